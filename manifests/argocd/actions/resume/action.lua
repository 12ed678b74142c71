-- Resume: the rollout is paused only while modelrollout.io/paused is "true". Writing
-- "false" rather than deleting the key keeps the annotations a JSON object: Argo CD
-- turns an emptied Lua table into an array, which the API server would refuse.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["modelrollout.io/paused"] = "false"
return obj
