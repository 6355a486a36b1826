# How much of the stored operations is an explanation's `text` (the causes' and rules' words
# written again), after deflate as the host stores them.
import sqlite3, sys, zlib, json
db = sqlite3.connect(sys.argv[1])
total_raw = total_packed = total_packed_notext = total_text = n = 0
for (op,) in db.execute("SELECT op FROM run_ops"):
    if isinstance(op, bytes):
        raw = zlib.decompress(op, -15)
    else:
        raw = op.encode()
    n += 1
    v = json.loads(raw)
    raw = json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()
    total_raw += len(raw)
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    packed = c.compress(raw) + c.flush()
    total_packed += len(packed)
    why = v.get("why")
    if isinstance(why, dict) and "text" in why:
        total_text += len(why["text"].encode())
        del why["text"]
    stripped = json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    p2 = c.compress(stripped) + c.flush()
    total_packed_notext += len(p2)
print(f"ops {n}: JSON {total_raw/1e6:.1f} MB, of it text {total_text/1e6:.1f} MB; deflated {total_packed/1e6:.1f} MB, without text {total_packed_notext/1e6:.1f} MB ({100*(total_packed-total_packed_notext)/max(total_packed,1):.1f}% less)")
