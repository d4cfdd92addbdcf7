#!/usr/bin/env bash
# rolloutctl address: every account of ../shared/fixtures/polkadot-accounts.json
# (prefixes 0, 2, 42 and the two-byte "other" ones) decodes to the fixture's
# public key and System.Account key; every entry of ss58-invalid.json is
# rejected with exit 1 and a reason of the right kind.
. "$(dirname "$0")/../lib.sh"

CTL="$B/rolloutctl"
ACC="$SHARED/fixtures/polkadot-accounts.json"
INV="$SHARED/fixtures/ss58-invalid.json"
[ -x "$CTL" ] || fail "$CTL not built"
[ -f "$ACC" ] || fail "$ACC missing"

# 1. all addresses through `address -` (one process), compared with the fixture
$PY - "$ACC" >"$TMP/in.txt" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for a in d["accounts"]:
    for k in ("ss58_polkadot", "ss58_kusama", "ss58_generic"):
        print(a[k])
    print(a["ss58_other"]["address"])
EOF
n_in=$(wc -l <"$TMP/in.txt")
[ "$n_in" -ge 1200 ] || fail "expected at least 1200 fixture addresses, got $n_in"
"$CTL" --json address - <"$TMP/in.txt" >"$TMP/out.jsonl" || fail "address - exited $? on valid fixture addresses"
$PY - "$ACC" "$TMP/out.jsonl" <<'EOF' || fail "address output differs from the fixtures"
import json, sys
d = json.load(open(sys.argv[1]))
out = [json.loads(l) for l in open(sys.argv[2])]
exp = []
for a in d["accounts"]:
    for k, p in (("ss58_polkadot", 0), ("ss58_kusama", 2), ("ss58_generic", 42)):
        exp.append((a[k], p, a))
    exp.append((a["ss58_other"]["address"], a["ss58_other"]["prefix"], a))
assert len(out) == len(exp), (len(out), len(exp))
bad = 0
for o, (addr, prefix, a) in zip(out, exp):
    ok = (o["valid"] is True and o["address"] == addr and o["prefix"] == prefix
          and o["pubkey"] == a["pubkey"].lower()
          and o["system_account_key"] == a["system_account_key"].lower()
          and o["system_account_key"].startswith(d["system_account_prefix"].lower()))
    if not ok:
        bad += 1
        if bad < 5:
            print("mismatch:", addr, o, file=sys.stderr)
assert bad == 0, "%d mismatches" % bad
print("ok: %d addresses match the fixtures" % len(out))
EOF

# 2. the one-address form (human output) for the first accounts, all four prefixes
$PY - "$ACC" >"$TMP/few.txt" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for a in d["accounts"][:3]:
    for addr, p in ((a["ss58_polkadot"], 0), (a["ss58_kusama"], 2), (a["ss58_generic"], 42),
                    (a["ss58_other"]["address"], a["ss58_other"]["prefix"])):
        print(addr, p, a["pubkey"].lower(), a["system_account_key"].lower())
EOF
while read -r addr prefix pub key; do
  "$CTL" address "$addr" >"$TMP/one.txt" || fail "address $addr exited $?"
  assert_contains "$TMP/one.txt" "^network prefix: +$prefix " "prefix of $addr"
  assert_contains "$TMP/one.txt" "^public key: +$pub\$" "public key of $addr"
  assert_contains "$TMP/one.txt" "^System.Account key: +$key\$" "storage key of $addr"
done <"$TMP/few.txt"
pass "single-address form for 12 addresses"

# 3. every invalid vector: exit 1 and a reason of the right kind
$PY - "$INV" >"$TMP/invalid.tsv" <<'EOF'
import json, sys
for x in json.load(open(sys.argv[1])):
    why = x["why"]
    pat = ("checksum" if why == "checksum" else "length" if why == "length"
           else "base58 character" if why.startswith("alphabet") else "empty" if why == "empty"
           else ".")
    print(x["input"] + "\t" + pat)
EOF
count=0
while IFS=$'\t' read -r addr pat; do
  set +e
  "$CTL" address "$addr" >"$TMP/inv.out" 2>"$TMP/inv.err"
  rc=$?
  set -e
  [ "$rc" = 1 ] || fail "address '$addr' should exit 1, got $rc"
  [ ! -s "$TMP/inv.out" ] || fail "address '$addr': nothing expected on stdout"
  assert_contains "$TMP/inv.err" "invalid SS58 address: .*$pat" "reason for '$addr'"
  count=$((count + 1))
done <"$TMP/invalid.tsv"
[ "$count" -ge 24 ] || fail "expected 24 invalid vectors, ran $count"
pass "$count invalid addresses rejected with a reason"

# 4. the batch form flags each invalid line and exits 1
cut -f1 "$TMP/invalid.tsv" >"$TMP/inv-batch.txt"
set +e
"$CTL" --json address - <"$TMP/inv-batch.txt" >"$TMP/inv-batch.jsonl"
rc=$?
set -e
[ "$rc" = 1 ] || fail "batch of invalid addresses should exit 1, got $rc"
$PY - "$TMP/inv-batch.jsonl" "$count" <<'EOF' || fail "batch output for invalid addresses"
import json, sys
out = [json.loads(l) for l in open(sys.argv[1])]
assert len(out) == int(sys.argv[2]), len(out)
assert all(o["valid"] is False and o["error"] for o in out)
EOF
pass "rolloutctl address"
