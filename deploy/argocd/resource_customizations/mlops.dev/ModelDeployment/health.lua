-- Argo CD health of a mlops.dev ModelDeployment (a model served, rolled out by canary).
--
-- Written for what Argo CD gives a script set in argocd-cm without useOpenLibs: the base,
-- table and package libraries only, so no string.* or math.* calls; text is joined with ..
--
-- The operator's own order (the one that sets status.phase) decides:
--
--   status behind metadata.generation (or none yet)  Progressing  the operator has not seen it
--   Degraded=True   (phase Degraded)                 Degraded     aborted rollout, missing model
--                                                                 source or HTTPRoute: needs a human
--   Paused=True     (phase Paused)                   Suspended    spec.paused, or a pause step
--                                                                 waiting for mlops.dev/promote
--   Progressing=True (phase Progressing)             Progressing  canary steps, analysis, promotion
--   Ready=True      (phase Healthy)                  Healthy      the stable model serves
--   otherwise                                        Progressing  e.g. nothing to serve yet
--
-- The message is the reason and message of the condition that decided, e.g.
-- "AnalysisFailed: model s3://... (revision 3) aborted: ...".

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

local function isTrue(status, kind)
  local c = condition(status, kind)
  return c ~= nil and c.status == "True"
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

for _, rule in ipairs({
  { "Degraded", "Degraded" },
  { "Paused", "Suspended" },
  { "Progressing", "Progressing" },
  { "Ready", "Healthy" },
}) do
  if isTrue(status, rule[1]) then
    hs.status = rule[2]
    hs.message = says(condition(status, rule[1]))
    return hs
  end
end

hs.status = "Progressing"
hs.message = says(condition(status, "Ready"))
if hs.message == "" then
  hs.message = "Waiting for the operator"
end
return hs
