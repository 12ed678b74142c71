-- Pause: level-based, the rollout stays paused while the annotation is "true".
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["modelrollout.io/paused"] = "true"
return obj
