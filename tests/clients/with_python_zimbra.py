"""tests/clients/session.py through the PyPI `python-zimbra` library (`pythonzimbra`), JSON.

python-zimbra is a generic client: requests are dictionaries, answers the parsed JSON
(`_content`, `_attrs`, arrays). Its password login (`tools.auth.authenticate`) sends the
AuthRequest in XML; every other request here is JSON. It speaks the Zimbra two-factor
AuthRequest like any other request: password, then the stage token and the code.
"""
from importlib.metadata import version as _version

from pythonzimbra.communication import Communication
from pythonzimbra.tools import auth

ACCOUNT = "urn:zimbraAccount"
MAIL = "urn:zimbraMail"


def version():
    return "python-zimbra " + _version("python-zimbra")


class Fault(Exception):
    """A SOAP fault as python-zimbra reports it (`Response.is_fault()`)."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message


def text(v):
    """The text of a Zimbra JSON value: "x", {"_content": "x"} or [{"_content": "x"}]."""
    if isinstance(v, list):
        return text(v[0]) if v else ""
    if isinstance(v, dict):
        return v.get("_content", "")
    return v if v is not None else ""


def as_list(v):
    return v if isinstance(v, list) else ([] if v is None else [v])


def _message(m):
    people = [{"email": e.get("a"), "name": e.get("p", ""), "type": e.get("t")}
              for e in as_list(m.get("e"))]
    return {
        "id": m["id"],
        "subject": text(m.get("su")),
        "fragment": text(m.get("fr")),
        "flags": "".join(sorted(m.get("f", ""))),
        "folder": m.get("l"),
        "tags": m.get("t", ""),
        "addresses": sorted(people, key=lambda p: (p["type"], p["email"])),
    }


def _body(parts):
    for part in as_list(parts):
        if part.get("body") and "content" in part:
            return text(part["content"])
        found = _body(part.get("mp"))
        if found is not None:
            return found
    return None


class Client:
    def __init__(self, url, user):
        self.url = url.rstrip("/") + "/service/soap"
        self.user = user
        self.com = Communication(self.url)
        self.token = None

    def call(self, name, body, ns, token=True):
        req = self.com.gen_request(token=self.token if token else None)
        req.add_request(name + "Request", body, ns)
        resp = self.com.send_request(req)
        if resp.is_fault():
            raise Fault(resp.get_fault_code(), resp.get_fault_message())
        return resp.get_response()[name + "Response"]

    def login_password(self, password):
        self.token = auth.authenticate(self.url, self.user, password, use_password=True,
                                       raise_on_error=True)
        return bool(self.token)

    def login_two_factor(self, password, code):
        # Step 1: password -> a stage token and twoFactorAuthRequired.
        first = self.call("Auth", {"account": {"by": "name", "_content": self.user},
                                   "password": {"_content": password}}, ACCOUNT, token=False)
        required = text(first.get("twoFactorAuthRequired"))
        # Step 2: the stage token and the TOTP code -> the session token.
        second = self.call("Auth", {"account": {"by": "name", "_content": self.user},
                                    "authToken": {"_content": text(first["authToken"])},
                                    "twoFactorCode": {"_content": code}}, ACCOUNT, token=False)
        self.token = text(second["authToken"])
        return {"twoFactorAuthRequired": required}

    def use_token(self, token):
        self.token = token

    def fault_of(self, exc):
        if isinstance(exc, Fault):
            return ("pythonzimbra Response.is_fault()", exc.code, exc.message)
        return None

    def info(self):
        r = self.call("GetInfo", {"sections": "mbox,prefs,attrs,idents,sigs"}, ACCOUNT)
        wanted = ("zimbraPrefFromAddress", "zimbraPrefMailItemsPerPage", "zimbraPrefLocale",
                  "zimbraMailQuota")
        kv = lambda section: {k: v for k, v in (r.get(section, {}).get("_attrs") or {}).items()
                              if k in wanted}
        return {
            "name": text(r.get("name")),
            "prefs": kv("prefs"),
            "attrs": kv("attrs"),
            "identities": sorted(i["name"] for i in as_list(r.get("identities", {}).get("identity"))),
            "signatures": sorted(s["name"] for s in as_list(r.get("signatures", {}).get("signature"))),
        }

    def folders(self):
        out = []

        def walk(folder, parent):
            out.append({"name": folder["name"], "view": folder.get("view", ""), "parent": parent})
            for child in as_list(folder.get("folder")):
                walk(child, folder["name"])

        for root in as_list(self.call("GetFolder", {}, MAIL).get("folder")):
            walk(root, "")
        return out

    def get_prefs(self, names):
        r = self.call("GetPrefs", {"pref": [{"name": n} for n in names]}, ACCOUNT)
        return r.get("_attrs", {})

    def all_pref_names(self):
        return set(self.call("GetPrefs", {}, ACCOUNT).get("_attrs", {}))

    def modify_prefs(self, values):
        return self.call("ModifyPrefs", {"_attrs": dict(values)}, ACCOUNT)

    def create_signature(self, name, text_, html):
        r = self.call("CreateSignature", {"signature": {"name": name, "content": [
            {"type": "text/plain", "_content": text_}, {"type": "text/html", "_content": html}]}},
            ACCOUNT)
        sig = as_list(r["signature"])[0]
        return {"id": sig["id"], "name": sig["name"]}

    def modify_signature(self, sig_id, text_):
        return self.call("ModifySignature", {"signature": {"id": sig_id, "content": [
            {"type": "text/plain", "_content": text_}]}}, ACCOUNT)

    def signatures(self):
        r = self.call("GetSignatures", {}, ACCOUNT)
        return [{"id": s["id"], "name": s["name"],
                 "contents": [[c["type"], text(c)] for c in as_list(s.get("content"))]}
                for s in as_list(r.get("signature"))]

    def send(self, to, subject, body):
        r = self.call("SendMsg", {"m": {"e": [{"t": "t", "a": to}], "su": {"_content": subject},
                                        "mp": [{"ct": "text/plain", "content": {"_content": body}}]}},
                      MAIL)
        return as_list(r["m"])[0]["id"]

    def search(self, query):
        r = self.call("Search", {"query": {"_content": query}, "types": "message"}, MAIL)
        return [_message(m) for m in as_list(r.get("m"))]

    def get_msg(self, msg_id):
        m = as_list(self.call("GetMsg", {"m": {"id": msg_id}}, MAIL)["m"])[0]
        out = _message(m)
        out["body"] = _body(m.get("mp"))
        return out

    def msg_action(self, msg_id, op, **attrs):
        r = self.call("MsgAction", {"action": dict(attrs, id=msg_id, op=op)}, MAIL)
        act = as_list(r["action"])[0]
        return {"id": act["id"], "op": act["op"]}
