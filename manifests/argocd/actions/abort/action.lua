-- Abort: the operator acts once per distinct value of modelrollout.io/abort, so each
-- use of the action writes a fresh UTC timestamp.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["modelrollout.io/abort"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
