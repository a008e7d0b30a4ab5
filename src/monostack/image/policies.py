"""The Image service's default policy rules: Glance's defaults for the personas.

admin manages every image; a project member creates and manages its own
project's images and their members; a reader reads what is visible to its
project (its own images, public and community ones, shared ones it is a
member of); only the member project itself accepts or rejects a share; the owner (or admin)
deactivates and reactivates.
Targets are Glance's: `project_id` (the image owner), `member_id` (the
caller's project when it is a member of the image) and `visibility`.  Rule
names are Glance's, so an operator's Glance policy.yaml applies unchanged.
"""

from oslo_policy.policy import RuleDefault

ADMIN = "role:admin"
PROJECT_MEMBER = "role:member and project_id:%(project_id)s"
PROJECT_READER = "role:reader and project_id:%(project_id)s"
ADMIN_OR_PROJECT_MEMBER = f"{ADMIN} or ({PROJECT_MEMBER})"
ADMIN_OR_PROJECT_READER = f"{ADMIN} or ({PROJECT_READER})"
VISIBLE = ("project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s "
           "or 'public':%(visibility)s or 'shared':%(visibility)s")
ADMIN_OR_PROJECT_READER_GET_IMAGE = f"{ADMIN} or (role:reader and ({VISIBLE}))"
ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE = f"{ADMIN} or (role:member and ({VISIBLE}))"
ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER = (f"{ADMIN} or (role:reader and (project_id:%(project_id)s "
                                            f"or project_id:%(member_id)s))")
ADMIN_OR_SHARED_MEMBER = f"{ADMIN} or (role:member and project_id:%(member_id)s)"

_RULES = {
    "context_is_admin": ADMIN,
    "default": ADMIN,
    "add_image": ADMIN_OR_PROJECT_MEMBER,
    "delete_image": ADMIN_OR_PROJECT_MEMBER,
    "get_image": ADMIN_OR_PROJECT_READER_GET_IMAGE,
    "get_images": ADMIN_OR_PROJECT_READER,
    "modify_image": ADMIN_OR_PROJECT_MEMBER,
    "publicize_image": ADMIN,
    "communitize_image": ADMIN_OR_PROJECT_MEMBER,
    "download_image": ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE,
    "upload_image": ADMIN_OR_PROJECT_MEMBER,
    "delete_image_location": ADMIN,
    "get_image_location": ADMIN_OR_PROJECT_READER,
    "set_image_location": ADMIN_OR_PROJECT_MEMBER,
    "add_member": ADMIN_OR_PROJECT_MEMBER,
    "delete_member": ADMIN_OR_PROJECT_MEMBER,
    "get_member": ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER,
    "get_members": ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER,
    "modify_member": ADMIN_OR_SHARED_MEMBER,
    "deactivate": ADMIN_OR_PROJECT_MEMBER,
    "reactivate": ADMIN_OR_PROJECT_MEMBER,
    "stage_image": ADMIN_OR_PROJECT_MEMBER,
    "import_image": ADMIN_OR_PROJECT_MEMBER,
    "copy_image": ADMIN,
    "stores_info_detail": ADMIN,
}

RULES = [RuleDefault(name, check) for name, check in _RULES.items()]

# Metadata definitions (Glance's defaults: anyone reads what the namespace visibility lets them see;
# admin writes), and the legacy tasks API (admin only).
METADEF_READ = ""
_METADEF_RULES = {
    "get_metadef_namespace": METADEF_READ, "get_metadef_namespaces": METADEF_READ,
    "modify_metadef_namespace": ADMIN, "add_metadef_namespace": ADMIN, "delete_metadef_namespace": ADMIN,
    "get_metadef_object": METADEF_READ, "get_metadef_objects": METADEF_READ,
    "modify_metadef_object": ADMIN, "add_metadef_object": ADMIN, "delete_metadef_object": ADMIN,
    "list_metadef_resource_types": METADEF_READ, "get_metadef_resource_type": METADEF_READ,
    "add_metadef_resource_type_association": ADMIN, "remove_metadef_resource_type_association": ADMIN,
    "get_metadef_property": METADEF_READ, "get_metadef_properties": METADEF_READ,
    "modify_metadef_property": ADMIN, "add_metadef_property": ADMIN, "remove_metadef_property": ADMIN,
    "get_metadef_tag": METADEF_READ, "get_metadef_tags": METADEF_READ,
    "modify_metadef_tag": ADMIN, "add_metadef_tag": ADMIN, "add_metadef_tags": ADMIN,
    "delete_metadef_tag": ADMIN, "delete_metadef_tags": ADMIN,
}
RULES += [RuleDefault(name, check) for name, check in _METADEF_RULES.items()]
RULES += [RuleDefault(name, check) for name, check in {
    "tasks_api_access": ADMIN, "add_task": ADMIN, "get_task": ADMIN, "get_tasks": ADMIN}.items()]
