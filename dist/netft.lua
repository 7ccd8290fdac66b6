-- Wireshark / tshark dissector for the netft wire protocol, version 3
-- (docs/PROTOCOL.md describes every byte). Load it with
--   tshark -X lua_script:/usr/local/share/netft/netft.lua -r capture.pcapng
-- or copy it into ~/.local/lib/wireshark/plugins/. Frames on UDP port 3343
-- are decoded; on other ports a heuristic recognises the magic "NeFT".
-- The inner IP packet of a data frame is handed to Wireshark's IP dissectors
-- unless the frame is encrypted (preference "decode_inner").

local netft = Proto("netft", "netft cluster adapter")

local types = {
    [1] = "heartbeat_request",
    [2] = "heartbeat_reply",
    [3] = "data",
    [4] = "ack",
    [5] = "hello",
}
local links = { [0] = "unknown", [1] = "up", [2] = "down" }

local HEADER = 48
local TAG = 16
local FLAG_AUTHENTICATED, FLAG_ENCRYPTED, FLAG_RESENT = 0x01, 0x02, 0x04

local f = {
    magic = ProtoField.uint32("netft.magic", "Magic", base.HEX),
    version = ProtoField.uint8("netft.version", "Version"),
    type = ProtoField.uint8("netft.type", "Type", base.DEC, types),
    flags = ProtoField.uint8("netft.flags", "Flags", base.HEX),
    authenticated = ProtoField.bool("netft.flags.authenticated", "Authenticated", 8, nil, FLAG_AUTHENTICATED),
    encrypted = ProtoField.bool("netft.flags.encrypted", "Encrypted", 8, nil, FLAG_ENCRYPTED),
    resent = ProtoField.bool("netft.flags.resent", "Resent after failover", 8, nil, FLAG_RESENT),
    header_words = ProtoField.uint8("netft.header_words", "Header length (words)"),
    sender = ProtoField.uint32("netft.sender", "Sender node id"),
    session = ProtoField.uint32("netft.session", "Sender session", base.HEX),
    route = ProtoField.uint32("netft.route", "Route id", base.HEX),
    payload_length = ProtoField.uint16("netft.payload_length", "Payload length"),
    reserved = ProtoField.uint16("netft.reserved", "Reserved", base.HEX),
    seq = ProtoField.uint64("netft.seq", "Sequence"),
    ack = ProtoField.uint64("netft.ack", "Acknowledgement"),
    timestamp = ProtoField.uint64("netft.timestamp", "Timestamp (ns)"),
    stream_seq = ProtoField.uint64("netft.stream_seq", "Stream sequence"),
    payload = ProtoField.bytes("netft.payload", "Payload"),
    tag = ProtoField.bytes("netft.tag", "Authentication tag"),
    report_count = ProtoField.uint8("netft.report.count", "Route report entries"),
    report_route = ProtoField.uint32("netft.report.route", "Route id", base.HEX),
    report_link = ProtoField.uint8("netft.report.link", "Sender's link", base.DEC, links),
    report_hearing = ProtoField.bool("netft.report.hearing", "Hearing the receiver"),
    report_received = ProtoField.uint64("netft.report.received", "Received up to"),
    hello_nonce = ProtoField.bytes("netft.hello.nonce", "Frame nonce"),
    hello_session_nonce = ProtoField.bytes("netft.hello.session_nonce", "Session nonce"),
    hello_challenge = ProtoField.bytes("netft.hello.challenge", "Challenge"),
    hello_answer = ProtoField.bytes("netft.hello.answer", "Answer"),
    hello_name = ProtoField.string("netft.hello.name", "Node name"),
    hello_address = ProtoField.ipv6("netft.hello.address", "Address"),
    hello_prefix = ProtoField.uint8("netft.hello.prefix", "Prefix length"),
}
netft.fields = {
    f.magic, f.version, f.type, f.flags, f.authenticated, f.encrypted, f.resent, f.header_words,
    f.sender, f.session, f.route, f.payload_length, f.reserved, f.seq, f.ack, f.timestamp, f.stream_seq,
    f.payload, f.tag, f.report_count, f.report_route, f.report_link, f.report_hearing, f.report_received,
    f.hello_nonce, f.hello_session_nonce, f.hello_challenge, f.hello_answer,
    f.hello_name, f.hello_address, f.hello_prefix,
}

local malformed = ProtoExpert.new("netft.malformed", "Malformed netft frame", expert.group.MALFORMED, expert.severity.ERROR)
netft.experts = { malformed }

netft.prefs.port = Pref.uint("UDP port", 3343, "The cluster's netft port")
netft.prefs.decode_inner = Pref.bool("Decode inner packets", true, "Hand the IP packet of unencrypted data frames to the IP dissectors")

local ip_dissector = Dissector.get("ip")
local ipv6_dissector = Dissector.get("ipv6")

local function report(buf, tree)
    if buf:len() < 4 then return end
    local count = buf(0, 1):uint()
    tree:add(f.report_count, buf(0, 1))
    for i = 0, count - 1 do
        local at = 4 + 16 * i
        if at + 16 > buf:len() then
            tree:add_proto_expert_info(malformed, "route report shorter than its entry count")
            return
        end
        local entry = tree:add(netft, buf(at, 16), string.format("Route 0x%08x", buf(at, 4):uint()))
        entry:add(f.report_route, buf(at, 4))
        entry:add(f.report_link, buf(at + 4, 1))
        entry:add(f.report_hearing, buf(at + 5, 1))
        entry:add(f.report_received, buf(at + 8, 8))
    end
end

local function hello(whole, tree)
    if whole:len() < 89 then
        tree:add_proto_expert_info(malformed, "hello shorter than its handshake")
        return
    end
    tree:add(f.hello_nonce, whole(0, 24))
    tree:add(f.hello_session_nonce, whole(24, 32))
    tree:add(f.hello_challenge, whole(56, 16))
    tree:add(f.hello_answer, whole(72, 16))
    local buf = whole(88):tvb()
    local n = buf(0, 1):uint()
    if 1 + n >= buf:len() then
        tree:add_proto_expert_info(malformed, "hello shorter than its name")
        return
    end
    tree:add(f.hello_name, buf(1, n))
    local count = buf(1 + n, 1):uint()
    for i = 0, count - 1 do
        local at = 2 + n + 18 * i
        if at + 18 > buf:len() then return end
        tree:add(f.hello_prefix, buf(at + 1, 1))
        tree:add(f.hello_address, buf(at + 2, 16))
    end
end

local function dissect(buf, pinfo, root)
    if buf:len() < HEADER or buf(0, 4):uint() ~= 0x4E654654 then return 0 end
    pinfo.cols.protocol = "netft"
    local type = buf(5, 1):uint()
    local flags = buf(6, 1):uint()
    local length = buf(20, 2):uint()
    local tree = root:add(netft, buf())
    tree:add(f.magic, buf(0, 4))
    tree:add(f.version, buf(4, 1))
    tree:add(f.type, buf(5, 1))
    local flag_tree = tree:add(f.flags, buf(6, 1))
    flag_tree:add(f.authenticated, buf(6, 1))
    flag_tree:add(f.encrypted, buf(6, 1))
    flag_tree:add(f.resent, buf(6, 1))
    tree:add(f.header_words, buf(7, 1))
    tree:add(f.sender, buf(8, 4))
    tree:add(f.session, buf(12, 4))
    tree:add(f.route, buf(16, 4))
    tree:add(f.payload_length, buf(20, 2))
    tree:add(f.reserved, buf(22, 2))
    tree:add(f.seq, buf(24, 8))
    tree:add(f.ack, buf(32, 8))
    if type == 3 then tree:add(f.stream_seq, buf(40, 8)) else tree:add(f.timestamp, buf(40, 8)) end

    local name = types[type] or string.format("type %d", type)
    pinfo.cols.info = string.format("%s route=0x%08x seq=%s ack=%s%s", name, buf(16, 4):uint(),
        tostring(buf(24, 8):uint64()), tostring(buf(32, 8):uint64()),
        (bit.band(flags, FLAG_RESENT) ~= 0) and " resent" or "")

    local tag = (bit.band(flags, FLAG_AUTHENTICATED) ~= 0) and TAG or 0
    if HEADER + length + tag ~= buf:len() then
        tree:add_proto_expert_info(malformed, string.format("datagram is %d bytes, header says %d", buf:len(), HEADER + length + tag))
        return buf:len()
    end
    if length > 0 then
        local body = buf(HEADER, length)
        local encrypted = bit.band(flags, FLAG_ENCRYPTED) ~= 0
        if encrypted then
            tree:add(f.payload, body):append_text(" (encrypted)")
        elseif type == 1 or type == 2 then
            report(body:tvb(), tree:add(netft, body, "Route report"))
        elseif type == 5 then
            hello(body:tvb(), tree:add(netft, body, "Hello"))
        elseif type == 3 and netft.prefs.decode_inner then
            local version = bit.rshift(body(0, 1):uint(), 4)
            local inner = version == 6 and ipv6_dissector or ip_dissector
            inner:call(body:tvb(), pinfo, root)
        else
            tree:add(f.payload, body)
        end
    end
    if tag > 0 then tree:add(f.tag, buf(HEADER + length, TAG)) end
    return buf:len()
end

function netft.dissector(buf, pinfo, root)
    return dissect(buf, pinfo, root)
end

-- Frames on another port: recognised by magic and version.
local function heuristic(buf, pinfo, root)
    if buf:len() < HEADER or buf(0, 4):uint() ~= 0x4E654654 or buf(4, 1):uint() ~= 3 then return false end
    dissect(buf, pinfo, root)
    return true
end

-- Port 3343 is also registered for MSRCP (the Windows cluster service's own
-- protocol): netft takes it over, and follows the port preference.
local udp_ports = DissectorTable.get("udp.port")
local registered = netft.prefs.port
udp_ports:add(registered, netft)
function netft.prefs_changed()
    if registered ~= netft.prefs.port then
        udp_ports:remove(registered, netft)
        registered = netft.prefs.port
        udp_ports:add(registered, netft)
    end
end

netft:register_heuristic("udp", heuristic)
