-- Argo CD health of a mlops.dev RetrainPolicy (when to retrain a model).
--
-- Written for what Argo CD gives a script set in argocd-cm without useOpenLibs: the base,
-- table and package libraries only, so no string.* or math.* calls; text is joined with ..
--
--   status behind metadata.generation (or none yet)  Progressing  the operator has not seen it
--   Ready=False, reason InvalidSpec                   Degraded     the spec cannot work as written
--   Suspended=True                                    Suspended    spec.suspend: no trigger is
--                                                                  evaluated
--   Ready=False (NoData, PrometheusUnreachable,       Degraded     the drift query has no value
--   QueryError)
--   Ready=Unknown (AwaitingEvaluation)                Progressing  the first drift evaluation is due
--   otherwise: Watching, Breaching, Retraining,       Healthy      the policy does its job
--   CoolingDown
--
-- Retraining is Healthy on purpose: the run is a TrainingJob with its own health, and a
-- policy that is retraining works as meant. Were it Progressing, every drift would turn the
-- Application Progressing for as long as training lasts, and hold sync waves behind the
-- policy until the run ended. A failed run shows on the TrainingJob (Degraded) and in the
-- policy's message (below).
--
-- The message is the reason and message of the condition that decided, or for a Healthy
-- policy of the condition named like its phase, e.g. "Cooldown: cooldown 15s after ...",
-- followed by what the last run left to look at: "RunFailed: ..." (Retraining=False) and
-- "EvaluationFailed: ..." or "AwaitingPromotion: ..." (Promoted=False). Argo CD leaves a
-- child's health (the policy's TrainingJobs) out of the Application's, so the policy says it.

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

local function says(c)
  if c == nil then
    return ""
  end
  local reason = c.reason or ""
  if c.message == nil or c.message == "" then
    return reason
  end
  if reason == "" then
    return c.message
  end
  return reason .. ": " .. c.message
end

local hs = {}
local status = obj.status
local generation = obj.metadata.generation
if status == nil or status.observedGeneration == nil
    or (generation ~= nil and status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation or 1)
  return hs
end

local ready = condition(status, "Ready")
local suspended = condition(status, "Suspended")
if ready ~= nil and ready.status == "False" and ready.reason == "InvalidSpec" then
  hs.status = "Degraded"
  hs.message = says(ready)
  return hs
end
if suspended ~= nil and suspended.status == "True" then
  hs.status = "Suspended"
  hs.message = says(suspended)
  return hs
end
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = says(ready)
  return hs
end
if ready ~= nil and ready.status == "Unknown" then
  hs.status = "Progressing"
  hs.message = says(ready)
  return hs
end

-- Healthy: the condition named like the phase says what the policy is doing.
local phase = status.phase or "Watching"
local explain = nil
if phase == "Watching" then
  explain = ready
else
  explain = condition(status, phase)
end
hs.status = "Healthy"
hs.message = says(explain or ready)
if hs.message == "" then
  hs.message = phase
end
local retraining = condition(status, "Retraining")
if retraining ~= nil and retraining.status == "False" and retraining.reason == "RunFailed" then
  hs.message = hs.message .. "; " .. says(retraining)
end
local promoted = condition(status, "Promoted")
if promoted ~= nil and promoted.status == "False" then
  hs.message = hs.message .. "; " .. says(promoted)
end
return hs
