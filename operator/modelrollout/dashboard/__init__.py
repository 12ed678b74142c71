"""`modelrollout dashboard`: a local web UI over the ModelDeployments of a cluster.

views (pure: resource bodies in, page data out), caching (a watch-fed cache of
ModelDeployments and their Events), app (the Starlette routes), command (the CLI).
"""
