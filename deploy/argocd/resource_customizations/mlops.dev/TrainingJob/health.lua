-- Argo CD health of a mlops.dev TrainingJob (a training run).
--
-- Written for what Argo CD gives a script set in argocd-cm without useOpenLibs: the base,
-- table and package libraries only, so no string.* or math.* calls; text is joined with ..
--
--   status behind metadata.generation (or none yet)  Progressing  the operator has not seen it
--   Failed=True                                       Degraded     terminal: no attempt is left
--   Succeeded=True                                    Healthy      terminal: status.model.uri set
--   Suspended=True                                    Suspended    spec.suspend; resumes on false
--   anything else (Pending, Queued, Running,          Progressing  the run goes on
--   Restarting)
--
-- The message is the reason and message of the condition that decided, e.g.
-- "Unschedulable: 0/3 nodes are available: ...". Logic reads conditions, as the API says;
-- status.phase only names the condition that explains a run in progress.

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

if isTrue(status, "Failed") then
  hs.status = "Degraded"
  hs.message = says(condition(status, "Failed"))
  return hs
end
if isTrue(status, "Succeeded") then
  hs.status = "Healthy"
  hs.message = says(condition(status, "Succeeded"))
  return hs
end
if isTrue(status, "Suspended") then
  hs.status = "Suspended"
  hs.message = says(condition(status, "Suspended"))
  return hs
end

-- In progress: the condition named like the phase explains it; a Pending run is explained
-- by Running=False (e.g. the scheduler's message), a run without phase by Created.
local phase = status.phase or "Pending"
local explain = condition(status, phase)
if phase == "Pending" or explain == nil then
  explain = condition(status, "Running") or condition(status, "Created")
end
hs.status = "Progressing"
hs.message = says(explain)
if hs.message == "" then
  hs.message = phase
end
return hs
