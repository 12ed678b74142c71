-- Which day-2 actions Argo CD offers for a ModelDeployment in its current state.
-- Each action only sets an annotation; the operator acts on it (see names.py).
local actions = {}
local phase = "Pending"
if obj.status ~= nil and obj.status.phase ~= nil then
  phase = obj.status.phase
end
local paused = false
if obj.metadata.annotations ~= nil and obj.metadata.annotations["modelrollout.io/paused"] == "true" then
  paused = true
end
local rolling = phase == "Optimizing" or phase == "Deploying" or phase == "Canary" or phase == "Paused"

actions["promote"] = {["disabled"] = not (phase == "Canary" or phase == "Paused")}
-- Abort acts in Promoting too: stable goes back to the previous version.
actions["abort"] = {["disabled"] = not (rolling or phase == "Promoting")}
actions["retry"] = {["disabled"] = not (phase == "RolledBack" or phase == "Failed")}
actions["pause"] = {["disabled"] = paused or not rolling}
actions["resume"] = {["disabled"] = not paused}
return actions
