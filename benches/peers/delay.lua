-- haproxy Lua for the peer benchmark (scripts/bench-peers).
-- `lua.delay`: holds every request for BENCH_DELAY_MS milliseconds (default 30) before it is
-- forwarded; core.msleep yields, so delayed requests do not block each other. This kernel has
-- no netem, so the delay is per request, not per packet.
-- `lua.sts`: answers STS GetCallerIdentity (POST /) with a fixed identity, because s3s-fs
-- serves only S3 and s3ferry resolves its identity before copying.
local delay = tonumber(os.getenv("BENCH_DELAY_MS") or "30") or 30

core.register_action("delay", { "http-req" }, function(txn)
    if delay > 0 then
        core.msleep(delay)
    end
end)

local identity = [[<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<GetCallerIdentityResult><Arn>arn:aws:iam::111111111111:user/bench</Arn><UserId>AIDABENCH0000000000</UserId><Account>111111111111</Account></GetCallerIdentityResult>
<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>]]

core.register_service("sts", "http", function(applet)
    applet:receive()
    applet:set_status(200)
    applet:add_header("content-type", "text/xml")
    applet:add_header("content-length", tostring(string.len(identity)))
    applet:start_response()
    applet:send(identity)
end)

-- `lua.notags`: answers GetObjectTagging (GET /BUCKET/KEY?tagging) with an empty tag set, which
-- is what S3 returns for an untagged object; s3s-fs 0.14.1 answers NotImplemented, and s3ferry
-- reads the source's tags before a multipart copy.
local notags = [[<?xml version="1.0" encoding="UTF-8"?>
<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet></TagSet></Tagging>]]

core.register_service("notags", "http", function(applet)
    applet:set_status(200)
    applet:add_header("content-type", "application/xml")
    applet:add_header("content-length", tostring(string.len(notags)))
    applet:start_response()
    applet:send(notags)
end)
