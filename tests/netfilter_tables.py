#!/usr/bin/python3
"""The netfilter tables that tests leave empty behind them.

iptables-nft creates a table (ip filter, ip nat, ip6 nat...) the first time
a rule goes into one of its chains, and leaves the table, its base chains
and their policies in place when the last rule is deleted. The tests delete
every rule they add, but not those tables. ctest runs this as a fixture:
`record FILE` before the tests that touch netfilter, `sweep FILE` after
them, which deletes each iptables table that was not there before and holds
no rule now. A table with any rule in it is left alone, whoever made it.
"""

import json
import subprocess
import sys

# The tables iptables-nft and ip6tables-nft create, by family.
IPTABLES_TABLES = {"filter", "nat", "mangle", "raw", "security"}
FAMILIES = {"ip", "ip6"}


def nft_json(*args):
    out = subprocess.run(["nft", "-j", *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["nftables"]


def iptables_tables():
    found = set()
    for item in nft_json("list", "tables"):
        t = item.get("table")
        if t and t["family"] in FAMILIES and t["name"] in IPTABLES_TABLES:
            found.add((t["family"], t["name"]))
    return found


def holds_rules(family, name):
    return any("rule" in item for item in nft_json("list", "table", family, name))


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("record", "sweep"):
        sys.exit("usage: netfilter_tables.py record|sweep FILE")
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "record":
        with open(path, "w") as f:
            json.dump(sorted(iptables_tables()), f)
        return
    with open(path) as f:
        before = {tuple(t) for t in json.load(f)}
    for family, name in sorted(iptables_tables() - before):
        if holds_rules(family, name):
            print(f"kept {family} {name}: it holds rules")
            continue
        subprocess.run(["nft", "delete", "table", family, name], check=True)
        print(f"deleted the empty table {family} {name} the tests left")


if __name__ == "__main__":
    main()
