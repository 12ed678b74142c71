"""The `kubectl modelrollout` plugin: pure rendering and control patches (the shell is `kubectl_plugin`)."""
