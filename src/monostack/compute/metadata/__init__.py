"""Instance metadata: the metadata service guests reach at 169.254.169.254
and the config drive, both in Nova's formats (OpenStack and EC2 trees).

- instance.py: `InstanceMetadata` (and its parts), the snapshot of one server
  the compute service fills;
- content.py: every document of the tree, by path, and the config drive's file list;
- network.py: network_data.json; ec2.py: the EC2 meta-data tree;
- api.py: `build_app(source, shared_secret=...)`, the ASGI metadata API;
- configdrive.py: `build_config_drive(meta, target)`;
- password.py: the guest's password endpoint; vendordata.py: vendor data providers.
"""

from monostack.compute.metadata.api import MetadataSource, build_app, sign_instance_id
from monostack.compute.metadata.configdrive import ConfigDriveError, build_config_drive
from monostack.compute.metadata.content import Documents
from monostack.compute.metadata.instance import (BlockDevice, Device, FixedIP, HostRoute,
                                                 InstanceMetadata, Interface, Keypair, Subnet)

__all__ = [
    "BlockDevice", "ConfigDriveError", "Device", "Documents", "FixedIP", "HostRoute",
    "InstanceMetadata", "Interface", "Keypair", "MetadataSource", "Subnet", "build_app",
    "build_config_drive", "sign_instance_id",
]
