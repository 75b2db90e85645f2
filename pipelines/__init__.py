"""flowsync pipelines: the command line, pipeline building and reporting."""

# the release; pyproject.toml reads it from here, the warehouse's layout log records it
__version__ = "0.2.0"
