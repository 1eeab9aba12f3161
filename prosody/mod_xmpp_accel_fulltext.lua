-- mod_xmpp_accel_fulltext: indexed full-text search of users' own archives
-- (XEP-0313 MAM with an XEP-0431 full-text field) for Prosody 0.12, over
-- the xmpp-accel sidecar's index API ([index] in its TOML).
--
-- * Each message mod_mam archives (event "archive-message-added") that has
--   a <body/> is sent to the sidecar (POST /v1/index).
-- * A MAM query whose form carries a full-text field
--   ({urn:xmpp:fulltext:0}fulltext, full-text-search, fulltext or withtext)
--   is answered from the index (POST /v1/search), with `with`, `start`,
--   `end`, `before-id`, `after-id`, `ids` and RSM paging (max, after,
--   before, index, flip-page); the messages are loaded from Prosody's own
--   archive store. Queries without such a field are mod_mam's, untouched.
-- * urn:xmpp:fulltext:0 is advertised on accounts, and the MAM form lists
--   the field.
-- * Catch-up: when the module loads, each user's archive is fed from where
--   the index stops (GET /v1/last_indexed_id). Back-fill on demand, from
--   the admin shell: `prosodyctl shell "xmpp_accel_fulltext:backfill('HOST')"`
--   (optionally a user name as second argument; `reindex` instead of
--   `backfill` feeds the whole archive again).
--
-- Message ids in the index: a message archived at second W (the archive's
-- "when") that is the N-th (0-based, archive order) of its user's messages
-- in that second has mam id W * 2^20 + N. Both can be read back from the
-- archive, so the index needs no mapping table and the ids sort by time.
-- A user's archive id is the first 52 bits of SHA-1("user@host").
--
-- Needs mod_mam with an archive store that has ids (SQL: mod_storage_sql).
-- Options:
--   xmpp_accel_fulltext_url   = "http://127.0.0.1:9093" -- the [index] address
--   xmpp_accel_fulltext_token = "..."                     -- the [index] token
--   xmpp_accel_fulltext_catchup = true                    -- catch up on load
--   xmpp_accel_fulltext_max_body = 65536                  -- bytes of a body indexed

local st = require "util.stanza";
local rsm = require "util.rsm";
local jid_bare = require "util.jid".bare;
local dataforms = require "util.dataforms";
local http = require "net.http";
local json = require "util.json";
local async = require "util.async";
local promise = require "util.promise";
local hashes = require "util.hashes";
local datetime = require "util.datetime";

local xmlns_mam = "urn:xmpp:mam:2";
local xmlns_fulltext = "urn:xmpp:fulltext:0";
local xmlns_delay = "urn:xmpp:delay";
local xmlns_forward = "urn:xmpp:forward:0";

local FULLTEXT_FIELDS = {
	"{urn:xmpp:fulltext:0}fulltext", "full-text-search", "fulltext", "withtext",
};
local SEQ_BITS = 20;
local SEQ_MASK = (1 << SEQ_BITS) - 1;
local BATCH = 500;

local host = module.host;
local api_url = module:get_option_string("xmpp_accel_fulltext_url", "http://127.0.0.1:9093"):gsub("/+$", "");
local api_token = module:get_option_string("xmpp_accel_fulltext_token");
local catchup_on_load = module:get_option_boolean("xmpp_accel_fulltext_catchup", true);
local default_max, max_max = 20, module:get_option_number("max_archive_query_results", 50);
local archive = module:open_store(module:get_option_string("archive_store", "archive"), "archive");
-- bodies are cut to this many bytes (at a character boundary) before
-- indexing: the index refuses a batch with a longer one ([index] max_body)
local max_body = module:get_option_number("xmpp_accel_fulltext_max_body", 65536);

module:depends("mam");

if not api_token then
	module:log("error", "xmpp_accel_fulltext_token is not set: full-text search is off");
	return;
end
if not (archive.find and archive.caps and archive.caps.ids) then
	module:log("error", "the archive store has no ids (use storage = \"sql\"): full-text search is off");
	return;
end

local http_client = http.new({ suppress_errors = true });

-- ------------------------------------------------------------------ ids

local function archive_id(username)
	return tonumber(hashes.sha1(username .. "@" .. host, true):sub(1, 13), 16);
end

local function mam_id(when, seq)
	return (math.floor(when) << SEQ_BITS) | seq;
end

local function split_id(id)
	id = math.tointeger(id);
	if not id or id < 0 then return nil; end
	return id >> SEQ_BITS, id & SEQ_MASK;
end

-- Per request: the archive's items of one second, in archive order.
local function second_cache(username)
	local cache = {};
	return function (when)
		local items = cache[when];
		if items then return items; end
		local iter, err = archive:find(username, { start = when, ["end"] = when });
		if not iter then return nil, err; end
		items = {};
		for key, item, w, with in iter do
			items[#items + 1] = { key = key, item = item, when = w, with = with };
		end
		cache[when] = items;
		return items;
	end
end

-- The mam id of the archive item `key`, or nil if it is not in the archive.
local function id_of_key(username, key, items_of)
	local item, when = archive:get(username, key);
	if item == nil then
		if when == "item-not-found" then return nil; end
		return nil, when;
	end
	when = math.floor(when);
	local items, err = items_of(when);
	if not items then return nil, err; end
	for i, it in ipairs(items) do
		if it.key == key then return mam_id(when, i - 1); end
	end
end

-- ------------------------------------------------------------------ the API

local function call(path, payload)
	return http_client:request(api_url .. path, {
		method = "POST";
		body = payload and json.encode(payload) or "";
		headers = {
			["Authorization"] = "Bearer " .. api_token;
			["Content-Type"] = "application/json";
		};
	}):next(function (response)
		local data = json.decode(response.body or "");
		if response.code ~= 200 then
			return promise.reject(("index API %s: %d %s"):format(path, response.code,
				type(data) == "table" and tostring(data.reason) or tostring(response.body)));
		end
		return data;
	end);
end

-- Feeding: one request in flight, what arrives meanwhile goes in the next.
local pending, in_flight = {}, false;
local function flush()
	if in_flight or #pending == 0 then return; end
	local batch = pending;
	pending = {};
	in_flight = true;
	call("/v1/index", { messages = batch }):next(function ()
		module:log("debug", "indexed %d message(s)", #batch);
	end, function (err)
		module:log("warn", "could not index %d message(s) (back-fill will): %s", #batch, tostring(err));
	end):finally(function ()
		in_flight = false;
		flush();
	end);
end

local function cut(body)
	if #body <= max_body then return body; end
	local n = max_body;
	while n > 0 and ((body:byte(n + 1) or 0) & 0xC0) == 0x80 do n = n - 1; end
	return body:sub(1, n);
end

local function body_of(item)
	if type(item) ~= "table" or not item.get_child_text then
		item = st.deserialize(item);
	end
	return item and item:get_child_text("body");
end

module:hook("archive-message-added", function (event)
	local username, key = event.for_user, event.id;
	if not (username and key) then return; end
	local body = event.stanza and event.stanza:get_child_text("body");
	if not body or body == "" then return; end
	local items_of = second_cache(username);
	local id = id_of_key(username, key, items_of);
	if not id then
		module:log("warn", "archived message %s of %s not found in the archive", key, username);
		return;
	end
	local _, _, with = archive:get(username, key); -- the row exists: id_of_key found it
	pending[#pending + 1] = {
		archive_id = archive_id(username);
		mam_id = id;
		remote_jid = with or "";
		body = cut(body);
	};
	flush();
end);

-- Feeds `username`'s archive from the second of the last indexed message
-- on (everything with `all`). Runs in an async context. Returns the number
-- of messages sent.
local function backfill_user(username, all)
	local aid = archive_id(username);
	local start;
	if not all then
		local r, err = async.wait_for(call("/v1/last_indexed_id", { archive_id = aid }));
		if not r then return nil, err; end
		if r.last_indexed_id ~= nil and r.last_indexed_id ~= json.null then
			start = (split_id(r.last_indexed_id));
		end
	end
	local sent, batch = 0, {};
	local cur, seq = nil, 0;
	local after;
	repeat
		local iter, err = archive:find(username, { start = start; after = after; limit = 1000 });
		if not iter then return nil, err; end
		local n = 0;
		for key, item, when, with in iter do
			n = n + 1;
			after = key;
			when = math.floor(when);
			if when == cur then seq = seq + 1; else cur, seq = when, 0; end
			local body = body_of(item);
			if body and body ~= "" then
				batch[#batch + 1] = {
					archive_id = aid; mam_id = mam_id(when, seq); remote_jid = with or ""; body = cut(body);
				};
			end
			if #batch >= BATCH then
				local ok, e = async.wait_for(call("/v1/index", { messages = batch }));
				if not ok then return nil, e; end
				sent, batch = sent + #batch, {};
			end
		end
	until n < 1000;
	if #batch > 0 then
		local ok, e = async.wait_for(call("/v1/index", { messages = batch }));
		if not ok then return nil, e; end
		sent = sent + #batch;
	end
	local ok, e = async.wait_for(call("/v1/commit"));
	if not ok then return nil, e; end
	return sent;
end

local function backfill(only_user, all)
	local users = {};
	if only_user then
		users[1] = only_user;
	else
		for u in archive:users() do users[#users + 1] = u; end
	end
	local total = 0;
	for _, u in ipairs(users) do
		local n, err = backfill_user(u, all);
		if not n then
			module:log("error", "back-fill of %s stopped: %s", u, tostring(err));
			return nil, ("back-fill of %s stopped: %s"):format(u, tostring(err));
		end
		total = total + n;
	end
	module:log("info", "back-fill done: %d message(s) of %d user(s) sent to the index", total, #users);
	return total, #users;
end

local runner = async.runner(function (job) job(); end);

if catchup_on_load then
	module:add_timer(0, function ()
		runner:run(function () backfill(nil, false); end);
	end);
end

-- `prosodyctl shell "xmpp_accel_fulltext:backfill('example.com' [, 'user'])"`
local shell_env = module:shared("/*/admin_shell/env");
shell_env.xmpp_accel_fulltext = shell_env.xmpp_accel_fulltext or {};
local shell_hosts = module:shared("/*/xmpp_accel_fulltext/hosts");
shell_hosts[host] = function (all, user)
	return promise.new(function (resolve, reject)
		runner:run(function ()
			local n, users = backfill(user, all);
			if n then
				resolve(("%s: %d message(s) of %d user(s) sent to the index"):format(host, n, users));
			else
				reject(users);
			end
		end);
	end);
end
local function shell_command(all)
	return function (_, for_host, user)
		local hosts = module:shared("/*/xmpp_accel_fulltext/hosts");
		local f = hosts[for_host or ""];
		if not f then
			return false, "no mod_xmpp_accel_fulltext on host " .. tostring(for_host);
		end
		return f(all, user);
	end
end
shell_env.xmpp_accel_fulltext.backfill = shell_command(false);
shell_env.xmpp_accel_fulltext.reindex = shell_command(true);
module:hook_global("server-stopping", function () shell_hosts[host] = nil; end);
function module.unload()
	shell_hosts[host] = nil;
end

-- ------------------------------------------------------------------ queries

local query_form = dataforms.new {
	{ name = "FORM_TYPE"; type = "hidden"; value = xmlns_mam };
	{ name = "with"; type = "jid-single" };
	{ name = "start"; type = "text-single"; datatype = "xs:dateTime" };
	{ name = "end"; type = "text-single"; datatype = "xs:dateTime" };
	{ name = "before-id"; type = "text-single" };
	{ name = "after-id"; type = "text-single" };
	{ name = "ids"; type = "list-multi" };
	{ name = "{urn:xmpp:fulltext:0}fulltext"; type = "text-single"; label = "Full-text search" };
	{ name = "full-text-search"; type = "text-single" };
	{ name = "fulltext"; type = "text-single" };
	{ name = "withtext"; type = "text-single" };
};

-- The form shown to clients: mod_mam's fields and the XEP-0431 one.
local shown_form = dataforms.new {
	{ name = "FORM_TYPE"; type = "hidden"; value = xmlns_mam };
	{ name = "with"; type = "jid-single" };
	{ name = "start"; type = "text-single"; datatype = "xs:dateTime" };
	{ name = "end"; type = "text-single"; datatype = "xs:dateTime" };
	{ name = "before-id"; type = "text-single" };
	{ name = "after-id"; type = "text-single" };
	{ name = "ids"; type = "list-multi" };
	{ name = "{urn:xmpp:fulltext:0}fulltext"; type = "text-single"; label = "Full-text search" };
};

module:hook("iq-get/self/" .. xmlns_mam .. ":query", function (event)
	event.origin.send(st.reply(event.stanza):query(xmlns_mam):add_child(shown_form:form()));
	return true;
end, 1);

module:hook("account-disco-info", function (event)
	(event.reply or event.stanza):tag("feature", { var = xmlns_fulltext }):up();
end);

-- The search text of a form, or nil when it has no (non-empty) full-text
-- field; false when a full-text field has more than one value.
local function fulltext_of(form)
	for field in form:childtags("field") do
		for _, name in ipairs(FULLTEXT_FIELDS) do
			if field.attr.var == name then
				local values = {};
				for v in field:childtags("value") do values[#values + 1] = v:get_text(); end
				if #values > 1 then return false; end
				if values[1] and values[1]:find("%S") then return values[1]; end
			end
		end
	end
end

local function fail(origin, stanza, kind, condition, text)
	origin.send(st.error_reply(stanza, kind, condition, text));
	return true;
end

local function handle_query(event)
	local origin, stanza = event.origin, event.stanza;
	local query = stanza.tags[1];
	local form = query:get_child("x", "jabber:x:data");
	if not form then return; end
	local text = fulltext_of(form);
	if text == nil then return; end -- mod_mam's
	if text == false then
		return fail(event.origin, stanza, "modify", "bad-request", "A full-text field takes one value");
	end

	local username = origin.username;
	local qid = query.attr.queryid;
	origin.mam_requested = true;

	local form_type, err = dataforms.get_type(form);
	if not form_type then
		return fail(origin, stanza, "modify", "bad-request", "Invalid dataform: " .. tostring(err));
	elseif form_type ~= xmlns_mam then
		return fail(origin, stanza, "modify", "bad-request", "Unexpected FORM_TYPE, expected '" .. xmlns_mam .. "'");
	end
	local data, errors = query_form:data(form);
	if errors then
		local field, why = next(errors);
		return fail(origin, stanza, "modify", "bad-request", tostring(field) .. ": " .. tostring(why));
	end
	if not async.ready() then
		return fail(origin, stanza, "wait", "internal-server-error", "Full-text search needs an async context");
	end

	local qset = rsm.get(query);
	local qmax = math.min(qset and qset.max or default_max, max_max);
	if qmax < 0 then
		return fail(origin, stanza, "modify", "bad-request", "RSM max must not be negative");
	end
	local items_of = second_cache(username);
	local function resolve(key)
		local id, e = id_of_key(username, key, items_of);
		if e then error(e); end
		return id;
	end

	local q = { archive_id = archive_id(username); text = text; count = true };
	if data.with then q.with = jid_bare(data.with); end
	if data.start then q.start = mam_id(math.ceil(data.start), 0); end
	if data["end"] then q["end"] = mam_id(math.floor(data["end"]), SEQ_MASK); end
	if data.start and data["end"] and data.start > data["end"] then
		return fail(origin, stanza, "modify", "bad-request", "start is after end");
	end
	for _, f in ipairs { { "before-id", "before_id" }, { "after-id", "after_id" } } do
		local key = data[f[1]];
		if key and key ~= "" then
			local id = resolve(key);
			if not id then return fail(origin, stanza, "modify", "item-not-found", f[1] .. ": no such message"); end
			q[f[2]] = id;
		end
	end
	local no_result = false;
	if data.ids then
		local ids = {};
		for _, key in ipairs(data.ids) do
			local id = resolve(key);
			if id then ids[#ids + 1] = id; end
		end
		if #ids == 0 then no_result = true; else q.ids = ids; end
	end
	local reverse = false;
	if qset and qset.after then
		local id = resolve(qset.after);
		if not id then return fail(origin, stanza, "modify", "item-not-found", "RSM after: no such message"); end
		q.after = id;
	elseif qset and qset.index then
		q.index = qset.index;
	elseif qset and qset.before then
		reverse = true;
		if qset.before == true then
			q.before = "last";
		else
			local id = resolve(qset.before);
			if not id then return fail(origin, stanza, "modify", "item-not-found", "RSM before: no such message"); end
			q.before = id;
		end
	end
	-- one more than asked for: is this the last page in its direction?
	q.max = qmax == 0 and 0 or qmax + 1;

	local page;
	if no_result then
		page = { ids = {}, count = 0 };
	else
		local e;
		page, e = async.wait_for(call("/v1/search", q));
		if not page then
			module:log("error", "full-text query of %s failed: %s", username, tostring(e));
			return fail(origin, stanza, "cancel", "internal-server-error", "The full-text index is unavailable");
		end
	end

	local ids, first_index = page.ids, tonumber(page.first_index);
	if type(ids) ~= "table" or ids == json.null then ids = {}; end
	local complete = true;
	if #ids > qmax then
		complete = false;
		if reverse then
			table.remove(ids, 1);
			if first_index then first_index = first_index + 1; end
		else
			ids[#ids] = nil;
		end
	end

	local flip = query:get_child("flip-page") ~= nil;
	local reply_attr = { to = stanza.attr.from, from = stanza.attr.to };
	local results = {};
	for _, id in ipairs(ids) do
		local when, seq = split_id(id);
		local items = when and items_of(when);
		local it = items and items[seq + 1];
		if it then
			local item = it.item;
			if type(item) ~= "table" or not item.get_child_text then item = st.deserialize(item); end
			item = st.clone(item);
			item.attr.xmlns = "jabber:client";
			results[#results + 1] = {
				key = it.key;
				stanza = st.message(reply_attr)
					:tag("result", { xmlns = xmlns_mam, queryid = qid, id = it.key })
						:tag("forwarded", { xmlns = xmlns_forward })
							:tag("delay", { xmlns = xmlns_delay, stamp = datetime.datetime(it.when) }):up()
							:add_child(item);
			};
		else
			module:log("debug", "indexed message %s of %s is gone from the archive", tostring(id), username);
		end
	end
	local from, to, step = 1, #results, 1;
	if flip then from, to, step = #results, 1, -1; end
	for i = from, to, step do
		origin.send(results[i].stanza);
	end
	local first = results[1] and results[1].key;
	local last = results[#results] and results[#results].key;
	origin.send(st.reply(stanza)
		:tag("fin", { xmlns = xmlns_mam, complete = complete and "true" or nil })
			:add_child(rsm.generate {
				first = first and (first_index and { index = first_index, first } or first);
				last = last;
				count = tonumber(page.count);
			}));
	return true;
end

module:hook("iq-set/self/" .. xmlns_mam .. ":query", function (event)
	-- an archive failure inside must still get an answer
	local ok, ret = pcall(handle_query, event);
	if ok then return ret; end
	module:log("error", "full-text query failed: %s", tostring(ret));
	return fail(event.origin, event.stanza, "cancel", "internal-server-error");
end, 1);
