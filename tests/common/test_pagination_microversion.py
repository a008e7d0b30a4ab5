import pytest

from monostack.common import errors
from monostack.common.microversion import Microversions, Version
from monostack.common.pagination import links, page_request, paginate

ITEMS = [{"id": str(i)} for i in range(10)]


def key(item):
    return item["id"]


def test_pages_follow_markers_to_the_end():
    seen, params = [], {"limit": "4"}
    while True:
        page = page_request(params)
        items = paginate(ITEMS, page, key)
        seen += items
        nxt = links("http://x/servers?limit=4", page, items, key)
        if not nxt:
            break
        params = {"limit": "4", "marker": nxt[0]["href"].rsplit("marker=", 1)[1]}
    assert seen == ITEMS


def test_limit_is_capped_and_validated():
    assert page_request({"limit": "5000"}, max_limit=100).limit == 100
    with pytest.raises(errors.BadRequest):
        page_request({"limit": "x"})
    with pytest.raises(errors.BadRequest):
        page_request({"limit": "-1"})


def test_unknown_marker_is_400():
    with pytest.raises(errors.BadRequest):
        paginate(ITEMS, page_request({"marker": "nope"}), key)


MV = Microversions("compute", Version.parse("2.1"), Version.parse("2.90"), "x-openstack-nova-api-version")


@pytest.mark.parametrize("headers,expected", [
    ({}, "2.1"),
    ({"openstack-api-version": "compute 2.53"}, "2.53"),
    ({"openstack-api-version": "volume 3.0, compute latest"}, "2.90"),
    ({"x-openstack-nova-api-version": "2.10"}, "2.10"),
])
def test_negotiation(headers, expected):
    assert str(MV.negotiate(headers)) == expected


@pytest.mark.parametrize("value,error", [("compute 2.91", errors.NotAcceptable), ("compute 2.x", errors.BadRequest),
                                         ("compute 1.0", errors.NotAcceptable)])
def test_bad_versions(value, error):
    with pytest.raises(error):
        MV.negotiate({"openstack-api-version": value})


def test_version_ordering_and_headers():
    assert Version.parse("2.10") > Version.parse("2.9")
    assert Version.parse("2.10").matches("2.3", "2.10")
    assert MV.response_headers(Version.parse("2.5"))["OpenStack-API-Version"] == "compute 2.5"
