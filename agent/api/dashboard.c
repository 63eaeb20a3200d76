/*
 * GET /: the operator's dashboard, one self-contained page (inline CSS and
 * JS, no external resources). It asks for the API token once, keeps it in
 * sessionStorage, polls /v1/peers every second and shows link health per
 * peer live. Served without a token: the page holds no data itself.
 */
#include <string.h>

#include "api_int.h"

static const char page[] =
"<!doctype html>\n"
"<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
"<title>Limes: link health</title>\n"
"<style>\n"
"body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}\n"
"header{background:#1d2330;color:#fff;padding:12px 20px;display:flex;gap:16px;align-items:baseline}\n"
"header h1{font-size:18px;margin:0}#agent{opacity:.8}#clock{margin-left:auto;opacity:.8}\n"
"main{padding:20px}table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 3px #0002}\n"
"th,td{padding:8px 12px;text-align:left;border-bottom:1px solid #e3e6eb;white-space:nowrap}\n"
"th{background:#eef0f4;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
".dot{display:inline-block;width:12px;height:12px;border-radius:50%;margin-right:6px;vertical-align:-1px}\n"
".up{background:#1f9d55}.connecting{background:#e3a008}.down{background:#d64545}\n"
".warn{color:#b7791f;font-weight:600}.bad{color:#c53030;font-weight:600}\n"
"#msg{margin:12px 0;color:#c53030}#store{font-weight:600}\n"
"</style></head><body>\n"
"<header><h1>Limes</h1><span id=\"agent\">connecting…</span><span id=\"store\"></span>"
"<span id=\"clock\"></span></header>\n"
"<main><div id=\"msg\"></div>\n"
"<table><thead><tr><th>Peer</th><th>Link</th><th>Route</th><th>RTT</th><th>Last heard</th>"
"<th>Queued</th><th>Oldest unacked</th><th>Clock offset</th><th>Sent</th><th>Delivered</th>"
"<th>Received</th><th>Refused</th></tr></thead><tbody id=\"rows\"></tbody></table></main>\n"
"<script>\n"
"'use strict';\n"
"const KEY='limes-token';\n"
"function token(ask){let t=sessionStorage.getItem(KEY);if(!t||ask){t=prompt('Limes API token');"
"if(t)sessionStorage.setItem(KEY,t.trim());}return sessionStorage.getItem(KEY);}\n"
"function esc(s){return String(s).replace(/[&<>\"']/g,c=>'&#'+c.charCodeAt(0)+';');}\n"
"function age(s){if(s===null||s===undefined)return '–';if(s<1)return (s*1000).toFixed(0)+' ms';"
"if(s<120)return s.toFixed(1)+' s';if(s<7200)return (s/60).toFixed(1)+' min';return (s/3600).toFixed(1)+' h';}\n"
"function ms(v){return v===null||v===undefined?'–':v.toFixed(1)+' ms';}\n"
"function cls(v,warn,bad){return v===null||v===undefined?'':v>=bad?'bad':v>=warn?'warn':'';}\n"
"function render(d){\n"
"  document.getElementById('agent').textContent=d.agent.id+' · v'+d.agent.version;\n"
"  const st=document.getElementById('store');\n"
"  st.textContent=d.agent.store_healthy?'store ok':'STORE UNUSABLE';st.className=d.agent.store_healthy?'':'bad';\n"
"  document.getElementById('clock').textContent=new Date().toISOString().replace(/\\.\\d+Z$/,'Z');\n"
"  document.getElementById('rows').innerHTML=d.peers.map(p=>'<tr>'+\n"
"   '<td>'+esc(p.id)+'</td>'+\n"
"   '<td><span class=\"dot '+esc(p.state)+'\"></span>'+esc(p.state)+'</td>'+\n"
"   '<td>'+esc(p.via?'via '+p.via:p.endpoint)+'</td>'+\n"
"   '<td class=\"num '+cls(p.rtt_ms,50,500)+'\">'+ms(p.rtt_ms)+'</td>'+\n"
"   '<td class=\"num '+cls(p.last_heard_age_s,15,60)+'\" title=\"'+esc(p.last_heard||'never')+'\">'+"
"(p.last_heard?age(p.last_heard_age_s)+' ago':'never')+'</td>'+\n"
"   '<td class=\"num '+cls(p.queued,1000,100000)+'\">'+(p.queued===null?'(relay)':p.queued)+'</td>'+\n"
"   '<td class=\"num '+cls(p.oldest_unacked_age_s,30,600)+'\">'+age(p.oldest_unacked_age_s)+'</td>'+\n"
"   '<td class=\"num '+cls(p.clock_offset_ms===null?null:Math.abs(p.clock_offset_ms),1000,60000)+'\">'+"
"ms(p.clock_offset_ms)+'</td>'+\n"
"   '<td class=\"num\">'+p.counters.sent+'</td><td class=\"num\">'+p.counters.delivered+'</td>'+\n"
"   '<td class=\"num\">'+p.counters.received+'</td><td class=\"num\">'+p.counters.refused+'</td></tr>').join('');\n"
"}\n"
"async function poll(){\n"
"  const t=token(false);const msg=document.getElementById('msg');\n"
"  try{const r=await fetch('/v1/peers',{headers:{Authorization:'Bearer '+(t||'')},cache:'no-store'});\n"
"    if(r.status===401){msg.textContent='The token was refused.';token(true);}\n"
"    else if(!r.ok){msg.textContent='The agent answered '+r.status;}\n"
"    else{msg.textContent='';render(await r.json());}\n"
"  }catch(e){msg.textContent='The agent is not reachable: '+e;}\n"
"  setTimeout(poll,1000);\n"
"}\n"
"poll();\n"
"</script></body></html>\n";

const char *dashboard_page(size_t *len)
{
	*len = sizeof(page) - 1;
	return page;
}
