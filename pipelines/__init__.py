"""flowsync pipelines: the command line, pipeline building and reporting."""
