#!/usr/bin/env python3
"""Differential fuzzer for the hard Kustomize features (developer tool; needs kubectl).

Generates a few thousand small synthetic overlays (seeded RNG) that combine vars,
replacements, JSON 6902 and strategic merge patches, components and configMap/secret
generators (a minority invalid on purpose), builds each with `kubectl kustomize` (v5.5)
and `fluxgate render`, and classifies the pair:
  identical | both refused | REFUSED (fluxgate `unsupported:`, acceptable)
  DIFFERENT | FAILED (fluxgate error) | NOT REFUSED (fluxgate output, kubectl error)
The last three are bad; each is logged with a short diff in <work>/bad.log.

Usage:  python3 bench/differential_hard.py [--seed 1] [--cases 3000] [--jobs 2]
          [--work /tmp/render-differential-hard] [--only vars,smp,...] [--kubectl-only]
FLUXGATE_BIN picks the binary (default ~/.cache/fluxgate/target/debug/fluxgate);
--kubectl-only checks the generator alone. Case N lives in <work>/cNNNNN/{base,comp,overlay}:
  kubectl kustomize <case>/overlay;  fluxgate render <case>/overlay --root <case>
"""
import argparse, collections, concurrent.futures as cf, difflib, json, os
import random, re, shutil, subprocess, time

FAMILIES = ["vars", "replacements", "json6902", "smp", "components", "generators"]
BAD = ("DIFFERENT", "FAILED", "NOT REFUSED")


kv = lambda s: dict(x.split("=", 1) for x in s.split())  # "kind=Service name=web" -> dict
find = lambda objs, kind, name=None: next(o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"]))


# ---------------------------------------------------------------- YAML text emitter
PLAIN = re.compile(r"^[A-Za-z_$/][A-Za-z0-9_.$/:()=@ -]*$")
RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def scalar(v):
    if v is None or isinstance(v, bool):
        return {None: "null", True: "true", False: "false"}[v]
    if isinstance(v, (int, float)):
        return str(v)
    if v in ({}, []):
        return json.dumps(v)
    ok = PLAIN.match(v) and v.lower() not in RESERVED and not v.endswith((" ", ":"))
    return v if ok and ": " not in v and " #" not in v else json.dumps(v)


def emit(v, ind=""):
    """Block-style YAML lines for nested dicts/lists of scalars (multi-line str -> |)."""
    out = []
    for k, x in v.items() if isinstance(v, dict) else enumerate(v):
        head = ind + (scalar(k) + ":" if isinstance(v, dict) else "-")
        if isinstance(x, (dict, list)) and x and isinstance(v, dict):
            out.append(head)
            out += emit(x, ind + "  " if isinstance(x, dict) else ind)
        elif isinstance(x, (dict, list)) and x:
            sub = emit(x, ind + "  ")
            out += [head + " " + sub[0][len(ind) + 2:]] + sub[1:]
        elif isinstance(x, str) and "\n" in x and isinstance(v, dict):
            out.append(head + (" |" if x.endswith("\n") else " |-"))
            out += [ind + "  " + ln if ln else "" for ln in x.rstrip("\n").split("\n")]
        else:
            out.append(head + " " + scalar(x))
    return out


def ydump(v):
    if isinstance(v, list) and v and "apiVersion" in v[0]:
        return "---\n".join(ydump(d) for d in v)  # a multi-document stream
    return "\n".join(emit(v)) + "\n"


# ---------------------------------------------------------------- base resources
def base_objects(r, ns):
    nsd, web = {"namespace": ns} if ns else {}, {"labels": {"app": "web"}}
    obj = lambda api, kind, name, m={}, **kw: dict(apiVersion=api, kind=kind, metadata=dict(name=name, **nsd, **m), **kw)
    app = {"name": "app", "image": "nginx:1.%d" % r.randint(20, 27), "args": ["--port=80"],
           "env": [{"name": "MODE", "value": "slow"}, {"name": "LEVEL", "value": "3"}],
           "envFrom": [{"configMapRef": {"name": "app-config"}}], "ports": [{"containerPort": 80, "name": "http"}],
           "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}]}
    side = {"name": "sidecar", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 1000"]}
    dep = obj("apps/v1", "Deployment", "web", dict(web, **({"annotations": {"note": "hello"}} if r.random() < 0.5 else {})), spec={
        "replicas": r.randint(1, 3), "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [app, side], "volumes": [
            {"name": "cfg", "configMap": {"name": "settings"}}, {"name": "sec", "secret": {"secretName": "app-secret"}}]}}})
    svc = obj("v1", "Service", "web", web, spec={"selector": {"app": "web"}, "ports": [
        {"name": "http", "port": 80, "targetPort": "http"}, {"name": "metrics", "port": 9090}]})
    wid = obj("example.com/v1", "Widget", "gizmo", web, spec={"size": 3, "owner": {"name": "bob", "team": "core"},
              "items": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]})
    rbac = "rbac.authorization.k8s.io"
    objs = [dep, svc, obj("v1", "ConfigMap", "settings", data={"mode": "fast", "url": "http://example.com/a/b"}),
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "remote", "namespace": "other"},
             "data": {"host": "db.other"}},
            obj("v1", "Secret", "creds", type="Opaque", data={"password": "aHVudGVyMg=="}), wid,
            obj("v1", "ServiceAccount", "runner"),
            obj(rbac + "/v1", "Role", "reader", rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]),
            obj(rbac + "/v1", "RoleBinding", "reader", roleRef={"apiGroup": rbac, "kind": "Role", "name": "reader"},
                subjects=[dict(kind="ServiceAccount", name="runner", **nsd)])]
    return ([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}] if ns else []) + objs


# ---------------------------------------------------------------- feature families
# Each takes (r, case) and edits case.objs, case.kust[base|overlay|comp] and case.files.
VAR_SOURCES = [(ref, fp) for ref, fps in [  # objref, fieldpaths ("-": no fieldref, i.e. metadata.name)
    ("kind=Deployment name=web apiVersion=apps/v1", "- spec.replicas spec.template.spec.containers[0].image "
                                                    "spec.template.spec.containers[1].name"),
    ("kind=Deployment name=web group=apps version=v1", "metadata.name metadata.labels.app"),
    ("kind=Service name=web apiVersion=v1", "metadata.namespace spec.ports[0].port"),
    ("kind=Widget name=gizmo apiVersion=example.com/v1", "metadata.labels.app spec.size"),
    ("kind=Widget name=gizmo group=example.com version=v1", "spec.owner.name"),
    ("kind=ConfigMap name=settings apiVersion=v1", "data.mode"), ("kind=ConfigMap name=settings version=v1", "data.url"),
    ("kind=ConfigMap name=remote namespace=other version=v1", "data.host metadata.namespace"),
    ("kind=Secret name=creds apiVersion=v1", "-"), ("kind=ServiceAccount name=runner apiVersion=v1", "metadata.name")]
    for fp in fps.split()]
VAR_BAD = [("kind=ConfigMap name=nope version=v1", "data.mode"), ("kind=ConfigMap name=settings version=v1", "data.nope"),
           ("kind=Deployment name=web apiVersion=apps/v2", "-"), ("kind=Secret name=creds", "-")]  # no version: no match


def fam_vars(r, c):
    srcs = r.sample(VAR_SOURCES, r.randint(1, 3)) + ([r.choice(VAR_BAD)] if r.random() < 0.03 else [])
    if not (c.ns or "namespace" in c.kust["overlay"]):  # would be missing (an error)
        srcs = [s for s in srcs if s[1] != "metadata.namespace" or "other" in s[0]]
    if "annotations" in c.dep()["metadata"]:
        srcs.append(("kind=Deployment name=web apiVersion=apps/v1", "metadata.annotations.note"))
    dep, app, side = c.dep(), c.container(0), c.container(1)
    for i, (ref, fp) in enumerate(srcs + [(None, None)]):
        name = "V%d" % i if ref else "UNDEFINED"
        if ref:
            var = {"name": name, "objref": kv(ref)}
            if fp != "-" or r.random() < 0.3:
                var["fieldref"] = {"fieldpath": "metadata.name" if fp == "-" else fp}
            c.where(r, "vars")[0].append(var)
        elif r.random() < 0.8:
            break
        use = r.choice(["$(%s)", "x-$(%s)-y", "$$(%s)", "$(%s)"]) % name
        spot = r.randrange(10)  # 0-4: default varReference places; 5-9: never substituted
        if spot < 2: app["args"].append(use)
        elif spot == 2: side["command"].append(use)
        elif spot == 3: app["env"].append({"name": "E_" + name, "value": use})
        elif spot == 4: app["volumeMounts"][0]["mountPath"] = "/etc/" + use
        elif spot == 5: dep["metadata"].setdefault("annotations", {})["ref"] = use
        elif spot == 6: find(c.objs, "ConfigMap", "settings")["data"]["ref"] = use
        elif spot == 7: find(c.objs, "Widget")["spec"]["ref"] = use
        elif spot == 8: side["image"] = use
        else: find(c.objs, "Service")["spec"]["externalName"] = use


REPL_SOURCES = [kv(s) for s in [
    "kind=ConfigMap name=settings fieldPath=data.mode",
    "kind=Deployment name=web fieldPath=spec.template.spec.containers.[name=app].image",
    "kind=Deployment fieldPath=spec.template.spec.containers.0.image", "kind=Deployment fieldPath=spec.replicas",
    "kind=Service name=web fieldPath=spec.ports.0.port", "kind=Service fieldPath=spec.ports.[name=metrics].port",
    "kind=Widget fieldPath=spec.items.[name=b].value", "group=example.com version=v1 kind=Widget fieldPath=spec.owner.team",
    "kind=Secret name=creds", "kind=Deployment name=web fieldPath=metadata.labels.app",
    "kind=ConfigMap name=settings fieldPath=data.url", "kind=ConfigMap name=remote namespace=other fieldPath=data.host"]]
REPL_BAD = [kv(s) for s in [
    "kind=ConfigMap name=nope fieldPath=data.mode", "kind=ConfigMap name=settings fieldPath=data.nope",
    "kind=Deployment fieldPath=spec.template.spec.containers.*.image",
    "kind=Deployment name=web fieldPath=spec.template.spec.containers[name=sidecar].image"]]
REPL_TARGETS = [(kv(sel), paths.split()) for sel, paths in [  # "+": may be missing, usually gets create
    ("kind=Deployment", "spec.template.spec.containers.[name=app].env.[name=MODE].value"),
    ("kind=Deployment name=web", "+metadata.annotations.note +spec.template.metadata.annotations.x"),
    ("labelSelector=app=web", "+metadata.annotations.from"), ("annotationSelector=note=hello", "+metadata.labels.copied"),
    ("kind=ConfigMap", "+data.mode"), ("kind=Widget", "spec.owner.name spec.items.*.value"),
    ("namespace=team-a", "+metadata.annotations.ns"), ("kind=Deployment", "spec.template.spec.containers.*.image"),
    ("kind=Deployment", "spec.template.spec.containers.1.image"),
    ("kind=Service name=web", "spec.ports.[name=http].targetPort"),
    ("kind=Deployment", "spec.template.spec.containers.[name=app].env.[name=+NEW].value"),
    ("kind=Deployment group=apps", "spec.template.spec.containers.[name=sidecar].command.2"),
    ("name=web", "metadata.labels.app +spec.nothere.deep")]]
REJECTS = ["name=remote", "namespace=other", "kind=Service", "labelSelector=app=web"]


def fam_replacements(r, c):
    for _ in range(r.randint(1, 2)):
        src = dict(r.choice(REPL_BAD) if r.random() < 0.03 else r.choice(REPL_SOURCES))
        if src.get("fieldPath") == "data.url" or r.random() < 0.05:
            src["options"] = {"delimiter": "/", "index": r.choice([0, 2, 3]) if r.random() > 0.1 else 9}
        targets = []
        for sel, paths in r.sample(REPL_TARGETS, r.randint(1, 2)):
            paths = r.sample(paths, r.randint(1, len(paths)))
            t = {"select": dict(sel), "fieldPaths": [p.replace("+", "") for p in paths]}
            if r.random() < 0.3:
                t["reject"] = [kv(r.choice(REJECTS))]
            opts = {}
            if any("+" in p for p in paths) and r.random() < 0.93:
                opts["create"] = True
            elif r.random() < 0.4:
                opts["create"] = r.random() < 0.5
            if r.random() < 0.2:
                opts.update(delimiter=r.choice([":", "-", "."]), index=r.choice([0, 1, 3, -1]))
            targets.append(dict(t, options=opts) if opts else t)
        rep = {"source": src, "targets": targets}
        lst, d = c.where(r, "replacements")
        if r.random() < 0.3:  # from a file: one replacement, or a list of them
            fname = "repl%d.yaml" % len(c.files)
            c.files[d + "/" + fname] = ydump(rep if r.random() < 0.5 else [rep])
            lst.append({"path": fname})
        else:
            lst.append(rep)


C0, C1 = "/spec/template/spec/containers/0", "/spec/template/spec/containers/1"
NO_VALUE = object()  # an operation written without its value
J_DEP = [  # (op, path, value or from)
    ("add", "/metadata/annotations/added", "x"), ("add", "/metadata/labels/added", "y"),
    ("add", "/spec/template/spec/containers/-", {"name": "extra", "image": "busybox"}),
    ("add", C0 + "/env/0", {"name": "FIRST", "value": "1"}), ("add", C0 + "/env/-", {"name": "LAST", "value": "9"}),
    ("replace", "/spec/replicas", 5), ("replace", C0 + "/image", "nginx:2"), ("remove", C1, None),
    ("remove", "/metadata/labels/app", None), ("remove", C0 + "/args", None), ("move", C1 + "/args", C0 + "/args"),
    ("copy", "/metadata/annotations/app", "/metadata/labels/app"), ("copy", "/spec/template/spec/containers/-", C1),
    ("test", C1 + "/name", "sidecar"), ("add", "/metadata/annotations/example.com~1owner", "me"),
    ("add", "/metadata/labels/a~0b", "c"), ("add", "/metadata/annotations", {"whole": "map"}),
    ("add", "/spec/paused", True), ("replace", "/metadata/annotations/note", "changed"),
    ("remove", "/metadata/annotations/note", None), ("copy", "/spec/template/metadata/annotations", "/metadata/annotations"),
    # the JSON patch library's own rules: negative indexes, missing keys read as null, no value is null
    ("add", C0 + "/env/-1", {"name": "NEG", "value": "1"}), ("remove", C0 + "/env/-1", None),
    ("replace", C0 + "/env/-2/value", "from-the-end"), ("copy", "/metadata/labels/gone", "/metadata/labels/copied"),
    ("add", "/metadata/labels/novalue", NO_VALUE), ("test", "/metadata/labels/absent", None),
    ("copy", C0 + "/env/-1", C0 + "/env/01")]
J_BAD = [("add", C0 + "/env/-9", {"name": "Z"}), ("copy", C0 + "/env/-9", "/spec/x"), ("add", "", {}),
         ("replace", "/spec/nope", 1), ("remove", "/metadata/annotations/nope", None), ("test", "/spec/replicas", 99),
         ("add", "/spec/strategy/rollingUpdate/maxSurge", 1), ("add", "/spec/template/spec/containers/7", {"name": "z"})]
J_OTHER = {"Service": [("add", "/spec/ports/-", {"name": "x", "port": 81}), ("remove", "/spec/ports/1", None),
                       ("add", "/spec/sessionAffinity", "ClientIP"), ("replace", "/spec/ports/0/port", 8080)],
           "Widget": [("add", "/spec/items/1", {"name": "m", "value": "5"}), ("copy", "/spec/extra", "/spec/owner"),
                      ("move", "/spec/boss", "/spec/owner/name"), ("add", "/spec/owner/team", "edge")]}
J_TARGETS = {"Deployment": ["kind=Deployment name=web", "group=apps version=v1 kind=Deployment",
                            "labelSelector=app=web kind=Deployment", "name=w.* kind=Deployment"],
             "Service": ["kind=Service", "version=v1 kind=Service name=web"],
             "Widget": ["group=example.com kind=Widget", "annotationSelector=note kind=Widget"]}


def fam_json6902(r, c):
    for _ in range(r.randint(1, 2)):
        kind = r.choice(["Deployment", "Deployment", "Service", "Widget"])
        pool = J_DEP if kind == "Deployment" else J_OTHER[kind]
        if "annotations" not in c.dep()["metadata"] and r.random() < 0.9:
            pool = [x for x in pool if "note" not in x[1]]
        ops = r.sample(pool, r.randint(1, 3)) + ([r.choice(J_BAD)] if r.random() < 0.04 else [])
        ops = [dict(op=o, path=p, **({} if o == "remove" or v is NO_VALUE else {"from" if o in ("move", "copy") else "value": v}))
               for o, p, v in ops]
        target, (lst, d) = kv(r.choice(J_TARGETS[kind])), c.where(r, "patches")
        if r.random() < 0.25:
            fname = "patch%d.json" % len(c.files)
            c.files[d + "/" + fname] = json.dumps(ops, indent=1)
            lst.append({"path": fname, "target": target})
        else:
            lst.append({"target": target, "patch": json.dumps(ops) if r.random() < 0.2 else ydump(ops)})


def smp_dep(r):
    ctr = {"name": "app"}
    ctr.update(r.choice([
        {"env": [{"name": "MODE", "value": "patched"}, {"name": "NEW", "value": "1"}]},
        {"env": [{"name": "LEVEL", "$patch": "delete"}]}, {"env": [{"$patch": "replace"}, {"name": "ONLY", "value": "1"}]},
        {"ports": [{"containerPort": 8080, "name": "alt"}, {"containerPort": 80, "protocol": "TCP"}]},
        {"args": None, "resources": {"limits": {"cpu": "100m"}}}, {"volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]},
        {"$setElementOrder/env": [{"name": "LEVEL"}, {"name": "MODE"}]}, {"image": "nginx:patched"},
        {"env": [{"name": "MODE", "value": None}]}]))
    spec = {"containers": [ctr]}
    spec.update(r.choice([
        {"containers": [ctr, {"name": "sidecar", "$patch": "delete"}]},
        {"containers": [ctr, {"name": "third", "image": "redis:7"}]},
        {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]},
        {"volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "cfg", "$patch": "delete"}]},
        {"volumes": [{"name": "cfg", "configMap": {"name": "settings", "optional": True}}]},
        {"containers": [{"$patch": "replace"}, {"name": "solo", "image": "x:1"}]}, {}]))
    meta = {"name": "web"}
    if r.random() < 0.3:
        meta[r.choice(["labels", "annotations"])] = {r.choice(["app", "note", "new"]): r.choice([None, "v"])}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": dict({"template": {"spec": spec}}, **({"replicas": None} if r.random() < 0.1 else {}))}


def smp_other(r):
    v1 = lambda kind, name, **kw: dict(apiVersion="v1", kind=kind, metadata={"name": name}, **kw)
    return r.choice([
        v1("Service", "web", spec={"ports": [{"port": 80, "targetPort": 8080}, {"port": 9090, "$patch": "delete"}]}),
        dict(v1("Widget", "gizmo", spec={"items": [{"name": "b", "value": "3"}], "owner": {"team": None}}),
             apiVersion="example.com/v1"),
        v1("ConfigMap", "settings", data={"mode": None, "z": "1"}), v1("Service", "web", **{"$patch": "delete"}),
        dict(v1("Role", "reader", rules=[{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]}]),
             apiVersion="rbac.authorization.k8s.io/v1")])


def fam_smp(r, c):
    for _ in range(r.randint(1, 2)):
        p = smp_dep(r) if r.random() < 0.65 else smp_other(r)
        if c.ns and r.random() < 0.98:  # without it, no namespaced object matches
            p["metadata"]["namespace"] = c.ns
        if r.random() < 0.02:  # bad: patch aimed at an object that does not exist
            p["metadata"]["name"] = "ghost"
        how = r.randrange(4)
        if how == 0:  # the deprecated field, from a file
            fname = "smp%d.yaml" % len(c.files)
            c.files["overlay/" + fname] = ydump(p)
            c.kust["overlay"].setdefault("patchesStrategicMerge", []).append(fname)
        elif how == 1 and p["kind"] == "Deployment":  # with a target, the patch's own name is ignored
            p["metadata"]["name"] = "anything"
            c.where(r, "patches")[0].append({"target": {"kind": "Deployment"}, "patch": ydump(p)})
        else:
            c.where(r, "patches")[0].append({"patch": ydump(p)})


def fam_components(r, c):
    comp = c.kust.setdefault("comp", {})
    fields = {"labels": [{"pairs": {"comp": "yes"}, "includeSelectors": r.random() < 0.4,
                          "includeTemplates": r.random() < 0.5}],
              "commonLabels": {"component": "c1"}, "commonAnnotations": {"comp/owner": "team-x", "note": "from-comp"},
              "namePrefix": "cp-", "resources": ["extra.yaml"]}
    c.files["comp/extra.yaml"] = ydump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "comp-extra", "labels": {"app": "web"}}, "data": {"from": "component"}})
    for key in r.sample(list(fields) + ["patches"], r.randint(1, 3)):
        if key == "patches":  # the other families then put some of their output here too
            (fam_json6902 if r.random() < 0.5 else fam_smp)(r, c)
        else:
            comp[key] = fields[key]
    if r.random() < 0.3:
        comp.setdefault("configMapGenerator", []).append(
            {"name": "app-config", "behavior": "merge", "literals": ["FROM_COMP=1"]})


def fam_generators(r, c):
    for d in ("overlay", "comp"):  # the generator may land in either
        c.files[d + "/config.txt"] = "line one\nline: two\n"
        c.files[d + "/app.env"] = "# comment\nA=1\n\nB=two words\nC=\"quoted\"\nD=x=y\n"
    options = lambda: {k: v for k, v in [("disableNameSuffixHash", True), ("labels", {"gen": "x"}),
                       ("annotations", {"gen/by": "test"}), ("immutable", True)] if r.random() < 0.3}
    for kind, name in (("configMapGenerator", "app-config"), ("secretGenerator", "app-secret")):
        if r.random() < 0.3:
            continue
        beh = r.choice(["merge", "merge", "replace", "create", None]) if r.random() > 0.01 else "bogus"
        g = dict(name=name, **({"behavior": beh} if beh else {}))
        if beh in ("create", None) and r.random() < 0.97:
            g["name"] = name + "-2"  # a new one; the same name would clash
        src = r.sample(["literals", "files", "envs"], r.randint(1, 2))
        if "literals" in src:
            g["literals"] = r.sample(["K1=v1", "mode=overlay", "FLAG=true", "NUM=0123", 'Q="quoted value"', "EMPTY="], 2)
        if "files" in src:
            g["files"] = [r.choice(["config.txt", "custom-key=config.txt"])]
        if "envs" in src:
            g["envs"] = ["app.env"]
        if r.random() < 0.4 and (o := options()):
            g["options"] = o
        if kind == "secretGenerator" and r.random() < 0.2:
            g["type"] = "Opaque"
        c.where(r, kind)[0].append(g)
    if r.random() < 0.25:
        c.kust["overlay"]["generatorOptions"] = options() or {"labels": {"gen": "all"}}


FAM_FUNCS = dict(vars=fam_vars, replacements=fam_replacements, json6902=fam_json6902,
                 smp=fam_smp, components=fam_components, generators=fam_generators)


# ---------------------------------------------------------------- one case
class Case:
    def __init__(self, r, fams):
        self.files, self.ns = {}, r.choice([None, "team-a", "team-a"])
        self.objs = base_objects(r, self.ns)
        base = {"resources": ["resources.yaml"],
                "configMapGenerator": [{"name": "app-config", "literals": ["mode=base", "level=1"]}],
                "secretGenerator": [{"name": "app-secret", "literals": ["token=abc"]}]}
        over = {"resources": ["../base"]}
        for key, val, p in [("namespace", "prod", 0.3), ("namePrefix", "p-", 0.25), ("nameSuffix", "-s", 0.1),
                            ("commonLabels", {"tier": "front"}, 0.15), ("commonAnnotations", {"who": "me"}, 0.1),
                            ("labels", [{"pairs": {"env": "dev"}, "includeTemplates": True}], 0.15)]:
            if r.random() < p:
                over[key] = val
        self.kust = {"base": base, "overlay": over}
        for f in fams:
            FAM_FUNCS[f](r, self)
        if "comp" in self.kust:  # header first; a Component with nothing else is an error
            comp = {"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component"}
            self.kust["comp"] = dict(comp, **(self.kust["comp"] or {"commonAnnotations": {"c": "1"}}))
            over["components"] = ["../comp"]

    def dep(self):
        return find(self.objs, "Deployment")

    def container(self, i):
        return self.dep()["spec"]["template"]["spec"]["containers"][i]

    def where(self, r, key):
        """(list `key`, dir) of the kustomization to put it in: the component's, the overlay's or the base's."""
        x = r.random()
        name = "comp" if "comp" in self.kust and x < 0.6 else "base" if key == "vars" and x > 0.7 else "overlay"
        return self.kust[name].setdefault(key, []), name

    def write(self, root):
        files = dict(self.files, **{"base/resources.yaml": ydump(self.objs)})
        files.update({d + "/kustomization.yaml": ydump(k) for d, k in self.kust.items()})
        for rel, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w") as f:
                f.write(text)


def run(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return p.returncode == 0, p.stdout, p.stderr.strip()
    except subprocess.TimeoutExpired:
        return False, "", "timeout"


def one(i, args):
    r = random.Random("%d-%d" % (args.seed, i))
    fams = r.sample(args.only, min(len(args.only), r.choice([1, 1, 2, 2, 3])))
    root = os.path.join(args.work, "c%05d" % i)
    Case(r, fams).write(root)
    overlay = os.path.join(root, "overlay")
    kok, kout, kerr = run(["kubectl", "kustomize", overlay])
    if args.kubectl_only:
        return i, fams, "kubectl ok" if kok else "kubectl error", "" if kok else (kerr.splitlines() or ["?"])[-1]
    fok, fout, ferr = run([args.bin, "render", overlay, "--root", root])
    if kok and fok:
        cls = "identical" if kout == fout else "DIFFERENT"
    elif not kok:
        cls = "both refused" if not fok else "NOT REFUSED"
    else:
        cls = "REFUSED" if "unsupported: " in ferr else "FAILED"
    detail = ferr if cls == "REFUSED" else ""
    if cls == "DIFFERENT":
        diff = difflib.unified_diff(kout.splitlines(True), fout.splitlines(True), "kubectl", "fluxgate")
        detail = "".join(list(diff)[:30])
    elif cls in BAD:
        detail = "kubectl: %s\nfluxgate: %s\n" % (kerr[-400:] or "ok", ferr[:400] or "ok")
    return i, fams, cls, detail


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=3000)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--work", default="/tmp/render-differential-hard")
    ap.add_argument("--only", default=",".join(FAMILIES), help="comma-separated feature families")
    ap.add_argument("--kubectl-only", action="store_true", help="only check the generator against kubectl")
    args = ap.parse_args()
    args.only = args.only.split(",")
    args.bin = os.environ.get("FLUXGATE_BIN", os.path.expanduser("~/.cache/fluxgate/target/debug/fluxgate"))
    if not args.kubectl_only and not os.access(args.bin, os.X_OK):
        raise SystemExit("no fluxgate binary at %s (set FLUXGATE_BIN, or use --kubectl-only)" % args.bin)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    start, total, per_fam = time.time(), collections.Counter(), collections.defaultdict(collections.Counter)
    refusals = collections.Counter()
    log_path = os.path.join(args.work, "kubectl-errors.log" if args.kubectl_only else "bad.log")
    with open(log_path, "w") as log, cf.ThreadPoolExecutor(args.jobs) as pool:
        for i, fams, cls, detail in pool.map(lambda i: one(i, args), range(args.cases)):
            total[cls] += 1
            for f in fams:
                per_fam[f][cls] += 1
            if cls == "REFUSED":
                refusals[re.sub(r" in /\S+", "", detail.split("unsupported: ")[-1])[:100]] += 1
            elif detail:
                log.write("== c%05d %s [%s]\n%s\n" % (i, cls, ",".join(fams), detail.rstrip("\n")))
    print("%d cases in %.0fs (seed %d, %d jobs); work dir %s"
          % (args.cases, time.time() - start, args.seed, args.jobs, args.work))
    for cls, n in total.most_common():
        print("  %-13s %5d  %5.1f%%" % (cls, n, 100.0 * n / args.cases))
    for f in args.only:
        print("  %-13s %s" % (f, ", ".join("%s %d" % x for x in sorted(per_fam[f].items()))))
    for why, n in refusals.most_common(8):
        print("  refused %4dx: %s" % (n, why))
    bad = sum(total[c] for c in BAD)
    print("%d bad case(s); details in %s" % (bad, log_path))
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
