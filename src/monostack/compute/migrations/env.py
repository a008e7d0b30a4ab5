from monostack.common.migrate import run_env
from monostack.compute.models import Base

run_env(Base.metadata)
