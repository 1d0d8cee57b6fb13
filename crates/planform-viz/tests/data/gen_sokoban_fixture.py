# Writes tests/data/sokoban-7722.json: a Sokoban level with a trace from a simple A* (own
# implementation, NOT the reference one: only used as realistic drawing input).
# Run: python3 gen_sokoban_fixture.py > sokoban-7722.json
import heapq, json
level = ["#######","#  .  #","#  #  #","# @   #","# $$. #","#  #  #","#######"]
walls=set(); docks=set(); boxes=set(); worker=None
for y,row in enumerate(level):
    for x,ch in enumerate(row):
        if ch=='#': walls.add((x,y))
        if ch in '.*+': docks.add((x,y))
        if ch in '$*': boxes.add((x,y))
        if ch in '@+': worker=(x,y)
def h(bs):
    open_docks=[d for d in docks if d not in bs]
    un=[b for b in bs if b not in docks]
    if not un or not open_docks: return 0
    return sum(min(abs(b[0]-d[0])+abs(b[1]-d[1]) for d in open_docks) for b in un)
def key(w,bs): return (w,tuple(sorted(bs)))
def clause(kind,w,bs,g,hh):
    t=[kind,"worker",str(w[0]),str(w[1])]
    for b in sorted(bs, key=lambda p:f"{p[0]}-{p[1]}"):
        if b not in docks: t+=["box",str(b[0]),str(b[1])]
    return t+[f"c{g}",f"c{hh}"]
start=key(worker,boxes)
openl=[(h(boxes),0,start)]; g={start:0}; parent={start:None}; closed=set(); toks=[]
toks+=clause("create",worker,boxes,0,h(boxes))
while openl:
    f,gg,s=heapq.heappop(openl)
    if s in closed or gg!=g[s]: continue
    closed.add(s); w,bs=s; bs=set(bs)
    toks+=clause("close",w,bs,gg,h(bs))
    if all(b in docks for b in bs): goal=s; break
    for dx,dy in [(0,-1),(0,1),(-1,0),(1,0)]:
        n=(w[0]+dx,w[1]+dy)
        if n in walls: continue
        nb=set(bs)
        if n in bs:
            b2=(n[0]+dx,n[1]+dy)
            if b2 in walls or b2 in bs: continue
            nb.remove(n); nb.add(b2)
        k=key(n,nb)
        if k in closed or g.get(k,1e9)<=gg+1: continue
        g[k]=gg+1; parent[k]=s
        heapq.heappush(openl,(gg+1+h(nb),gg+1,k))
        toks+=clause("create",n,nb,gg+1,h(nb))
plan=[]; s=goal
while s: plan.append(s[0]); s=parent[s]
plan=plan[::-1]
ptoks=[]
for p in plan: ptoks+=["plan",str(p[0]),str(p[1])]
print(json.dumps({"level":"\n".join(level),"reasoning":toks,"plan":ptoks}))
print(len(toks), len(plan), file=__import__('sys').stderr)
