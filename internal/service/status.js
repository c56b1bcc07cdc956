(function(){
function get(o,p){p.split('.').forEach(function(k){o=o==null?o:o[k]});return o}
function each(s,f){Array.prototype.forEach.call(document.querySelectorAll(s),f)}
function show(d){
each('[data-v]',function(e){var v=get(d,e.dataset.v);if(v!=null)e.textContent=e.dataset.v=='now'?v.slice(0,19).replace('T',' '):v});
each('[data-p]',function(e){var v=get(d,e.dataset.p);if(v!=null)e.setAttribute('points',v)});
each('[data-w]',function(e){var v=get(d,e.dataset.w);if(v!=null)e.style.width=v+'%'});
each('[data-t]',function(e){var rows=get(d,e.dataset.t)||[],cols=e.dataset.c.split(','),b=document.createDocumentFragment();
rows.forEach(function(r){var tr=document.createElement('tr');cols.forEach(function(c){var td=document.createElement('td');td.textContent=r[c]==null?'':r[c];tr.appendChild(td)});b.appendChild(tr)});
e.replaceChildren(b)});
}
function tick(){fetch('api/status',{cache:'no-store'}).then(function(r){if(r.ok)return r.json()}).then(function(d){if(d)show(d)}).catch(function(){})}
setInterval(tick,5000);tick();
})();
