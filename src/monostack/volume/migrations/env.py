from monostack.common.migrate import run_env
from monostack.volume.models import Base

run_env(Base.metadata)
