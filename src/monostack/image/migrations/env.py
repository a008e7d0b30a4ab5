from monostack.common.migrate import run_env
from monostack.image.models import Base

run_env(Base.metadata)
