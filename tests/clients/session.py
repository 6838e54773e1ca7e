#!/usr/bin/env python3
"""One mailbox session driven through a real Zimbra client library (tests/clients.rs).

The same scenario runs once straight at the sandbox store and once through the gateway;
what the library parsed is printed as JSON on stdout for the Rust test to compare.
Server ids are replaced by labels in order of appearance (msg1, sig1…), dates are left
out, so two runs on two fresh stores give the same document.

    session.py --library zimbra_client --url http://127.0.0.1:7070 --user a@b.fr \
        (--password P | --token T | --password P --two-factor-code 123456) \
        --peer colleague@b.fr --outside someone@gmail.com
"""
import argparse
import importlib
import json
import re
import sys

ADAPTERS = {
    "zimbra_client": "with_zimbra_client",
    "zimsoap": "with_zimsoap",
    "python_zimbra": "with_python_zimbra",
}

PREFS = ["zimbraPrefMailItemsPerPage", "zimbraPrefComposeFormat", "zimbraPrefLocale"]


class Labels:
    """Server ids -> stable labels, one counter per kind."""

    def __init__(self):
        self.seen = {}

    def one(self, kind, raw):
        if raw in (None, ""):
            return raw
        key = (kind, str(raw))
        if key not in self.seen:
            n = sum(1 for k in self.seen if k[0] == kind) + 1
            self.seen[key] = f"{kind}{n}"
        return self.seen[key]

    def in_text(self, text):
        """`text` with every id already labelled replaced by its label (fault reasons)."""
        for (_, raw), label in self.seen.items():
            text = re.sub(r"\b%s\b" % re.escape(raw), label, text)
        return text

    def many(self, kind, raw):
        """A comma-separated id list (MsgActionResponse `action/@id`)."""
        if not raw:
            return raw
        return ",".join(self.one(kind, part) for part in str(raw).split(","))


def relabel_messages(labels, messages):
    for m in messages:
        m["id"] = labels.one("msg", m["id"])
        if "tags" in m:
            m["tags"] = labels.many("tag", m["tags"])
    return messages


def relabel_signatures(labels, signatures):
    for s in signatures:
        s["id"] = labels.one("sig", s["id"])
    return signatures


def run(client, args):
    labels = Labels()
    steps = []

    def step(name, action):
        try:
            steps.append({"step": name, "ok": action()})
        except Exception as exc:  # only the library's own fault type is an answer
            fault = client.fault_of(exc)
            if fault is None:
                raise
            kind, code, message = fault
            steps.append({"step": name, "fault": {"type": kind, "code": code,
                                                   "message": labels.in_text(message)}})

    if args.token:
        client.use_token(args.token)
        steps.append({"step": "login", "ok": "token given to the library"})
    elif args.two_factor_code:
        step("login", lambda: client.login_two_factor(args.password, args.two_factor_code))
    else:
        step("login", lambda: client.login_password(args.password))

    step("GetInfo", client.info)
    step("GetFolder", lambda: sorted(client.folders(), key=lambda f: (f["parent"], f["name"])))
    step("GetPrefs before", lambda: client.get_prefs(PREFS))
    step("ModifyPrefs", lambda: client.modify_prefs(
        {"zimbraPrefMailItemsPerPage": "50", "zimbraPrefComposeFormat": "text"}))
    step("GetPrefs after", lambda: client.get_prefs(PREFS))
    step("GetPrefs all", lambda: sorted(client.all_pref_names()))

    created = {}

    def create_signature():
        sig = client.create_signature("Cabinet", "Dr — Cabinet des Lices\nTél. 02 41 00 00 00",
                                      "<p>Dr — <b>Cabinet des Lices</b></p>")
        created["id"] = sig["id"]
        return relabel_signatures(labels, [sig])[0]

    step("CreateSignature", create_signature)
    step("GetSignatures", lambda: relabel_signatures(labels, client.signatures()))
    step("ModifySignature", lambda: client.modify_signature(created["id"], "Dr — Maison de santé"))
    step("GetSignatures after modify", lambda: relabel_signatures(labels, client.signatures()))

    subject = "Compte rendu de consultation (%s)" % args.library
    sent = {}

    def send():
        sent["id"] = client.send(args.peer, subject, "Bonjour,\nvoici le compte rendu.\nCordialement")
        return labels.one("msg", sent["id"])

    step("SendMsg in the trust space", send)

    def search(query):
        return lambda: relabel_messages(labels, client.search(query))

    step("Search in:sent", search("in:sent"))
    step("GetMsg", lambda: relabel_messages(labels, [client.get_msg(sent["id"])])[0])

    def action(op, **attrs):
        def go():
            answer = client.msg_action(sent["id"], op, **attrs)
            if isinstance(answer, dict) and "id" in answer:
                answer["id"] = labels.many("msg", answer["id"])
            return answer
        return go

    for op, attrs, query in [
        ("!read", {}, "in:sent"),
        ("read", {}, "in:sent"),
        ("flag", {}, "in:sent"),
        ("!flag", {}, "in:sent"),
        ("tag", {"tn": "suivi"}, "tag:suivi"),
        ("move", {"l": "2"}, "in:inbox"),
        ("trash", {}, "in:trash"),
        ("delete", {}, "in:trash"),
    ]:
        step("MsgAction " + op, action(op, **attrs))
        step("Search %s after %s" % (query, op), search(query))
    step("GetMsg after delete", lambda: client.get_msg(sent["id"]))

    step("SendMsg outside the trust space",
         lambda: labels.one("msg", client.send(args.outside, subject, "Ce message ne doit pas partir.")))
    return steps


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--library", required=True, choices=sorted(ADAPTERS))
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:7070")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password")
    parser.add_argument("--token", help="an auth token to hand to the library")
    parser.add_argument("--two-factor-code", help="TOTP code for the two-step AuthRequest")
    parser.add_argument("--peer", required=True)
    parser.add_argument("--outside", required=True)
    args = parser.parse_args()
    adapter = importlib.import_module(ADAPTERS[args.library])
    client = adapter.Client(args.url, args.user)
    steps = run(client, args)
    json.dump({"library": args.library, "version": adapter.version(), "steps": steps},
              sys.stdout, ensure_ascii=False, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
