"""tests/clients/session.py through the PyPI `zimsoap` library (XML, via python-zimbra).

zimsoap builds `https://host:port/service/soap` URLs; the test servers speak plain HTTP
on loopback, so its `Communication` object is pointed at the given URL. Requests it has
no method for (GetInfo, ModifyPrefs, SendMsg, most MsgAction ops) go through its generic
`request(name, content)`, which is how zimsoap users call them.
"""
from importlib.metadata import version as _version

from pythonzimbra.communication import Communication
from zimsoap import utils, zobjects
from zimsoap.client import ZimbraAccountClient, ZimbraMailClient, ZimbraSoapServerError

ACCOUNT = "urn:zimbraAccount"


def version():
    return "zimsoap " + _version("zimsoap")


def _pointed(client, url):
    client.com = Communication(url.rstrip("/") + "/service/soap")
    return client


def _who(e):
    return {"email": e.get("a"), "name": e.get("p", ""), "type": e.get("t")}


def _message(m):
    people = [_who(e) for e in utils.as_list(m.get("e", []))]
    return {
        "id": m["id"],
        "subject": utils.get_content(m.get("su", "")),
        "fragment": utils.get_content(m.get("fr", "")),
        "flags": "".join(sorted(m.get("f", ""))),
        "folder": m.get("l"),
        "tags": m.get("t", ""),
        "addresses": sorted(people, key=lambda p: (p["type"], p["email"])),
    }


def _text_of_parts(mp):
    """The `content` of the body part(s) of a GetMsg `<mp>` tree."""
    for part in utils.as_list(mp):
        if part.get("body") == "1" and "content" in part:
            return utils.get_content(part["content"])
        if "mp" in part:
            found = _text_of_parts(part["mp"])
            if found is not None:
                return found
    return None


class Client:
    def __init__(self, url, user):
        host_port = url.split("://", 1)[-1].rstrip("/")
        host, port = host_port.rsplit(":", 1)
        self.user = user
        self.account = _pointed(ZimbraAccountClient(host, port), url)
        self.mail = _pointed(ZimbraMailClient(host, port), url)

    def login_password(self, password):
        self.account.login(self.user, password)
        self.mail.login_with_authToken(self.account._session.authToken)
        return self.account.is_session_valid()

    def use_token(self, token):
        self.account.login_with_authToken(token)
        self.mail.login_with_authToken(token)

    def fault_of(self, exc):
        if isinstance(exc, ZimbraSoapServerError):
            return (type(exc).__name__, exc.code, exc.msg)
        return None

    def info(self):
        r = self.account.request("GetInfo", {"sections": "mbox,prefs,attrs,idents,sigs"})
        wanted = ("zimbraPrefFromAddress", "zimbraPrefMailItemsPerPage", "zimbraPrefLocale",
                  "zimbraMailQuota")
        kv = lambda section, tag: {
            a["name"]: a.get("_content", "")
            for a in utils.as_list(r.get(section, {}).get(tag, []))
            if a["name"] in wanted
        }
        sigs = r.get("signatures", {}) or {}
        return {
            "name": utils.get_content(r["name"]),
            "prefs": kv("prefs", "pref"),
            "attrs": kv("attrs", "attr"),
            "identities": sorted(i.name for i in self.account.get_identities()),
            "signatures": sorted(s["name"] for s in utils.as_list(sigs.get("signature", []))),
        }

    def folders(self):
        out = []

        def walk(folder, parent):
            out.append({"name": folder["name"], "view": folder.get("view", ""), "parent": parent})
            for child in utils.as_list(folder.get("folder", [])):
                walk(child, folder["name"])

        walk(self.mail.get_folder(f_id="1")["folder"], "")
        return out

    def get_prefs(self, names):
        return {n: self.account.get_preference(n) for n in names}

    def all_pref_names(self):
        return set(self.account.get_preferences())

    def modify_prefs(self, values):
        return self.account.request(
            "ModifyPrefs", {"pref": [{"name": k, "_content": v} for k, v in values.items()]})

    def create_signature(self, name, text, html):
        # zimsoap sets one content type per signature: the HTML one here.
        s = self.account.create_signature(name, html, "text/html")
        return {"id": s.id, "name": s.name}

    def modify_signature(self, sig_id, text):
        sig = zobjects.Signature(id=sig_id)
        sig.set_content(text, "text/plain")
        return self.account.modify_signature(sig)

    def signatures(self):
        return [{"id": s.id, "name": s.name, "content": s.get_content(), "type": s.get_content_type()}
                for s in self.account.get_signatures()]

    def send(self, to, subject, text):
        r = self.mail.request("SendMsg", {"m": {
            "e": [{"t": "t", "a": to}],
            "su": {"_content": subject},
            "mp": {"ct": "text/plain", "content": {"_content": text}},
        }})
        return r["m"]["id"]

    def search(self, query):
        r = self.mail.search(query, types="message")
        return [_message(m) for m in utils.as_list(r.get("m", []))]

    def get_msg(self, msg_id):
        m = self.mail.get_message(msg_id)["m"]
        out = _message(m)
        out["body"] = _text_of_parts(m.get("mp", []))
        return out

    def msg_action(self, msg_id, op, **attrs):
        if op == "move":
            return self.mail.move_messages([msg_id], attrs["l"])
        if op == "delete":
            r = self.mail.delete_messages([msg_id])
            return {"id": r["action"]["id"], "op": r["action"]["op"]}
        r = self.mail.request("MsgAction", {"action": dict(attrs, id=msg_id, op=op)})
        return {"id": r["action"]["id"], "op": r["action"]["op"]}
