//! Tests of the object lint, one group per rule, each with passing and
//! failing inputs built from a clean Deployment + Service pair.

use super::*;

fn s(text: &str) -> Value {
    Value::Str(text.to_string())
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(Map(entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()))
}

fn labels(pairs: &[(&str, &str)]) -> Value {
    map(&pairs.iter().map(|(k, v)| (*k, s(v))).collect::<Vec<_>>())
}

/// Set a value at a key path, creating the maps on the way.
fn set(object: &mut Value, path: &[&str], value: Value) {
    let (last, parents) = path.split_last().unwrap();
    let mut m = object.as_map_mut().unwrap();
    for p in parents {
        m = m.entry_map(p);
    }
    m.insert(last, value);
}

fn remove(object: &mut Value, path: &[&str]) {
    let (last, parents) = path.split_last().unwrap();
    let mut at = object;
    for p in parents {
        at = at.get_mut(p).unwrap();
    }
    at.as_map_mut().unwrap().remove(last);
}

fn container(name: &str, image: &str) -> Value {
    let requests = labels(&[("cpu", "100m"), ("memory", "64Mi")]);
    map(&[
        ("name", s(name)),
        ("image", s(image)),
        ("resources", map(&[("requests", requests)])),
    ])
}

fn object(api: &str, kind: &str, name: &str) -> Value {
    map(&[
        ("apiVersion", s(api)),
        ("kind", s(kind)),
        ("metadata", map(&[("name", s(name))])),
    ])
}

fn deployment(name: &str, image: &str) -> Value {
    let mut d = object("apps/v1", "Deployment", name);
    let app = labels(&[("app", name)]);
    set(&mut d, &["spec", "selector", "matchLabels"], app.clone());
    set(&mut d, &["spec", "template", "metadata", "labels"], app);
    let containers = Value::Seq(vec![container(name, image)]);
    set(
        &mut d,
        &["spec", "template", "spec", "containers"],
        containers,
    );
    d
}

fn service(name: &str, selector: &[(&str, &str)]) -> Value {
    let mut svc = object("v1", "Service", name);
    set(&mut svc, &["spec", "selector"], labels(selector));
    svc
}

fn rules(objects: &[Value]) -> Vec<(String, &'static str)> {
    lint_objects(objects)
        .into_iter()
        .map(|f| (f.location, f.rule))
        .collect()
}

#[test]
fn clean_set_has_no_findings() {
    let objects = [
        deployment("web", "docker.io/library/nginx:1.27-alpine"),
        service("web", &[("app", "web")]),
        object("v1", "ConfigMap", "web-config"),
    ];
    assert_eq!(lint_objects(&objects), vec![]);
}

#[test]
fn required_fields_are_checked() {
    let mut no_api = object("v1", "ConfigMap", "a");
    remove(&mut no_api, &["apiVersion"]);
    let no_name = object("v1", "ConfigMap", "");
    let no_kind = map(&[
        ("apiVersion", s("v1")),
        ("metadata", labels(&[("name", "x")])),
    ]);
    let objects = [no_api, no_name, no_kind, s("not an object")];
    assert_eq!(
        rules(&objects),
        vec![
            ("ConfigMap/a apiVersion".into(), "required-fields"),
            ("objects[1] metadata.name".into(), "required-fields"),
            ("objects[2] kind".into(), "required-fields"),
            ("objects[3]".into(), "required-fields"),
        ]
    );
}

#[test]
fn namespace_is_part_of_the_location() {
    let mut d = deployment("web", "nginx");
    set(&mut d, &["metadata", "namespace"], s("shop"));
    let found = lint_objects(&[d]);
    assert_eq!(
        found[0].location,
        "Deployment/shop/web spec.template.spec.containers[web].image"
    );
}

#[test]
fn selector_must_match_template_labels() {
    let mut d = deployment("web", "nginx:1");
    let selector = labels(&[("app", "web"), ("tier", "front")]);
    set(&mut d, &["spec", "selector", "matchLabels"], selector);
    set(
        &mut d,
        &["spec", "template", "metadata", "labels"],
        labels(&[("app", "api")]),
    );
    let found = lint_objects(&[d]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule, "selector-labels");
    assert_eq!(
        found[0].location,
        "Deployment/web spec.selector.matchLabels"
    );
    assert!(found[0].message.contains("app=web (template has app=api)"));
    assert!(found[0].message.contains("tier=front (missing)"));
}

#[test]
fn template_may_carry_more_labels_than_the_selector() {
    let mut d = deployment("web", "nginx:1");
    let more = labels(&[("app", "web"), ("version", "2")]);
    set(&mut d, &["spec", "template", "metadata", "labels"], more);
    assert_eq!(lint_objects(&[d]), vec![]);
}

#[test]
fn apps_v1_workloads_need_a_selector() {
    let mut d = deployment("web", "nginx:1");
    remove(&mut d, &["spec", "selector"]);
    let mut sts = deployment("db", "postgres:16");
    set(&mut sts, &["kind"], s("StatefulSet"));
    set(&mut sts, &["spec", "selector"], map(&[]));
    let mut old = deployment("old", "nginx:1");
    set(&mut old, &["apiVersion"], s("extensions/v1beta1"));
    remove(&mut old, &["spec", "selector"]);
    assert_eq!(
        rules(&[d, sts, old]),
        vec![
            ("Deployment/web spec.selector".into(), "selector-labels"),
            ("StatefulSet/db spec.selector".into(), "selector-labels"),
        ]
    );
}

#[test]
fn job_selector_is_checked_only_when_given() {
    let mut job = deployment("migrate", "app:1");
    set(&mut job, &["apiVersion"], s("batch/v1"));
    set(&mut job, &["kind"], s("Job"));
    remove(&mut job, &["spec", "selector"]);
    assert_eq!(lint_objects(&[job.clone()]), vec![]);
    set(
        &mut job,
        &["spec", "selector", "matchLabels"],
        labels(&[("job", "x")]),
    );
    assert_eq!(
        rules(&[job]),
        vec![(
            "Job/migrate spec.selector.matchLabels".into(),
            "selector-labels"
        )]
    );
}

#[test]
fn service_selector_must_match_a_workload() {
    let objects = [
        deployment("web", "nginx:1"),
        service("web", &[("app", "web")]),
        service("api", &[("app", "api"), ("tier", "back")]),
    ];
    let found = lint_objects(&objects);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].location, "Service/api spec.selector");
    assert_eq!(found[0].rule, "selector-labels");
    assert!(found[0].message.contains("app=api, tier=back"));
}

#[test]
fn service_labels_must_all_be_on_one_workload() {
    let mut other = deployment("worker", "worker:1");
    set(
        &mut other,
        &["spec", "template", "metadata", "labels", "tier"],
        s("back"),
    );
    let objects = [
        deployment("web", "nginx:1"),
        other,
        service("mixed", &[("app", "web"), ("tier", "back")]),
    ];
    let found = lint_objects(&objects);
    assert_eq!(found.len(), 1);
    assert!(found[0].message.contains("none has them all"));
}

#[test]
fn service_is_checked_only_against_workloads_of_its_namespace() {
    let mut svc = service("web", &[("app", "web")]);
    set(&mut svc, &["metadata", "namespace"], s("shop"));
    // No workload at all in "shop": the pods may be deployed elsewhere.
    assert_eq!(
        lint_objects(&[svc.clone(), deployment("web", "nginx:1")]),
        vec![]
    );
    let mut elsewhere = deployment("api", "api:1");
    set(&mut elsewhere, &["metadata", "namespace"], s("shop"));
    assert_eq!(
        rules(&[svc, deployment("web", "nginx:1"), elsewhere]),
        vec![("Service/shop/web spec.selector".into(), "selector-labels")]
    );
}

#[test]
fn service_matches_pods_and_cronjobs() {
    let mut pod = object("v1", "Pod", "one");
    set(&mut pod, &["metadata", "labels"], labels(&[("app", "one")]));
    set(
        &mut pod,
        &["spec", "containers"],
        Value::Seq(vec![container("c", "a:1")]),
    );
    let mut cron = object("batch/v1", "CronJob", "nightly");
    let template = ["spec", "jobTemplate", "spec", "template"];
    set(
        &mut cron,
        &[&template[..], &["metadata", "labels"]].concat(),
        labels(&[("app", "cron")]),
    );
    let containers = Value::Seq(vec![container("c", "a:1")]);
    set(
        &mut cron,
        &[&template[..], &["spec", "containers"]].concat(),
        containers,
    );
    let objects = [
        pod,
        cron,
        service("one", &[("app", "one")]),
        service("cron", &[("app", "cron")]),
    ];
    assert_eq!(lint_objects(&objects), vec![]);
}

#[test]
fn images_need_a_pinned_tag() {
    let objects = [
        deployment("a", "nginx"),
        deployment("b", "nginx:latest"),
        deployment("c", "registry:5000/team/app"),
        deployment("d", "registry:5000/team/app:1.2"),
        deployment("e", "app@sha256:0123"),
        deployment("f", "app:latest@sha256:0123"),
        deployment("g", ""),
    ];
    let found = lint_objects(&objects);
    let names: Vec<&str> = found.iter().map(|f| f.location.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "Deployment/a spec.template.spec.containers[a].image",
            "Deployment/b spec.template.spec.containers[b].image",
            "Deployment/c spec.template.spec.containers[c].image",
            "Deployment/g spec.template.spec.containers[g].image",
        ]
    );
    assert!(found.iter().all(|f| f.rule == "image-tag"));
    assert!(found[1].message.contains("`latest`"));
    assert_eq!(found[3].message, "container has no image");
}

#[test]
fn init_containers_and_cronjobs_are_checked() {
    let mut d = deployment("web", "nginx:1");
    let init = Value::Seq(vec![map(&[("name", s("setup")), ("image", s("busybox"))])]);
    set(
        &mut d,
        &["spec", "template", "spec", "initContainers"],
        init,
    );
    let mut cron = object("batch/v1", "CronJob", "nightly");
    let unnamed = map(&[("image", s("backup:latest"))]);
    let path = [
        "spec",
        "jobTemplate",
        "spec",
        "template",
        "spec",
        "containers",
    ];
    set(&mut cron, &path, Value::Seq(vec![unnamed]));
    let found = lint_objects(&[d, cron]);
    assert_eq!(
        found
            .iter()
            .map(|f| (f.location.as_str(), f.rule))
            .collect::<Vec<_>>(),
        vec![
            (
                "Deployment/web spec.template.spec.initContainers[setup].image",
                "image-tag"
            ),
            (
                "CronJob/nightly spec.jobTemplate.spec.template.spec.containers[0].image",
                "image-tag"
            ),
            (
                "CronJob/nightly spec.jobTemplate.spec.template.spec.containers[0].resources.requests",
                "resource-requests"
            ),
        ]
    );
}

#[test]
fn containers_need_cpu_and_memory_requests() {
    let mut only_cpu = deployment("a", "a:1");
    let c = ["spec", "template", "spec", "containers"];
    let mut no_memory = container("a", "a:1");
    remove(&mut no_memory, &["resources", "requests", "memory"]);
    set(&mut only_cpu, &c, Value::Seq(vec![no_memory]));
    let mut none = deployment("b", "b:1");
    let bare = map(&[("name", s("b")), ("image", s("b:1"))]);
    set(&mut none, &c, Value::Seq(vec![bare]));
    let found = lint_objects(&[only_cpu, none]);
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|f| f.rule == "resource-requests"));
    assert!(found[0].message.contains("no memory request"));
    assert!(found[1].message.contains("no cpu or memory request"));
    assert_eq!(
        found[1].location,
        "Deployment/b spec.template.spec.containers[b].resources.requests"
    );
}

#[test]
fn duplicates_compare_group_kind_namespace_and_name() {
    let mut beta = deployment("web", "nginx:1");
    set(&mut beta, &["apiVersion"], s("apps/v1beta2"));
    let mut other_ns = deployment("web", "nginx:1");
    set(&mut other_ns, &["metadata", "namespace"], s("staging"));
    let objects = [
        deployment("web", "nginx:1"),
        beta,
        other_ns,
        object("v1", "ConfigMap", "web"),
        object("other.example.com/v1", "Deployment", "web"),
    ];
    let found = lint_objects(&objects);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule, "duplicate-object");
    assert_eq!(found[0].location, "Deployment/web");
    assert!(found[0].message.contains("objects[0]"));
}

#[test]
fn findings_are_ordered_by_object_then_rule() {
    let mut d = deployment("web", "nginx");
    remove(&mut d, &["spec", "selector"]);
    let objects = [deployment("x", "x:1"), d.clone(), d];
    let order: Vec<&str> = lint_objects(&objects).iter().map(|f| f.rule).collect();
    assert_eq!(
        order,
        vec![
            "image-tag",
            "selector-labels",
            "duplicate-object",
            "image-tag",
            "selector-labels",
        ]
    );
}
