-- Argo CD health of a ModelDeployment, from its status (Kubernetes conventions):
--   Progressing  no status yet, or status.observedGeneration behind metadata.generation,
--                or a rollout under way;
--   Degraded     condition Degraded=True (phase RolledBack or Failed), or Progressing=False
--                with reason ProgressDeadlineExceeded (stuck, as Argo CD reads Deployments);
--   Suspended    phase Paused (by a person or by inconclusive analysis);
--   Healthy      condition Ready=True at the current generation.
local hs = {}

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function text(value, fallback)
  if value == nil or value == "" then
    return fallback
  end
  return value
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local degraded = condition(status, "Degraded")
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = text(degraded.message, text(status.message, "Phase " .. text(status.phase, "unknown")))
  return hs
end

local progressing = condition(status, "Progressing")
if progressing ~= nil and progressing.status == "False" and progressing.reason == "ProgressDeadlineExceeded" then
  hs.status = "Degraded"
  hs.message = text(progressing.message, "Rollout exceeded its progress deadline")
  return hs
end

if status.phase == "Paused" then
  hs.status = "Suspended"
  hs.message = text(status.pauseReason, "Paused") .. ": " .. text(status.message, "rollout paused")
  return hs
end

local ready = condition(status, "Ready")
if ready ~= nil and ready.status == "True" and status.phase ~= "Canary" and status.phase ~= "Promoting" then
  hs.status = "Healthy"
  hs.message = text(status.message, "Version " .. text(status.stableVersion, "?") .. " serves all traffic")
  return hs
end

hs.status = "Progressing"
hs.message = text(status.message, "Phase " .. text(status.phase, "Pending"))
return hs
