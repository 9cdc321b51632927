//! The lab's fakes speak the real protocols: the real kube-rs client execs into the fake API server.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::lab::{Lab, PodSpec, Scenario};

fn pod() -> PodSpec {
    PodSpec {
        namespace: "default".into(),
        name: "t-1234abcd-head".into(),
        labels: [("parent".to_string(), "skypilot".to_string())].into(),
        annotations: Default::default(),
        service_account: "skypilot-service-account".into(),
        env: [("GREETING".to_string(), "hello from the pod".to_string())].into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        host_network: false,
        node_name: None,
        phase: "Running".into(),
        aws: crate::lab::PodAws {
            cli: false,
            identity: Ok(String::new()),
            list: Ok(()),
            credentials_file: false,
            boto3: false,
            bare_python: false,
            aws_in_runtime: false,
            cli_opaque: false,
            rclone: None,
            real: None,
        },
    }
}

async fn client(lab: &Lab) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(lab.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

#[test]
fn kube_rs_exec_over_websocket_with_exit_codes() {
    let lab = Lab::start(Scenario::healthy_pod_identity().with(|s| s.pods = vec![pod()]));
    lab.block_on(async {
        let pods: Api<Pod> = Api::namespaced(client(&lab).await, "default");

        let listed = pods
            .list(&kube::api::ListParams::default().labels("parent=skypilot"))
            .await
            .unwrap();
        assert_eq!(listed.items.len(), 1);
        let none = pods
            .list(&kube::api::ListParams::default().labels("parent=other"))
            .await
            .unwrap();
        assert!(none.items.is_empty());

        let params = AttachParams::default().container("ray-node").stdout(true).stderr(true);
        let mut proc = pods
            .exec(
                "t-1234abcd-head",
                ["sh", "-c", "echo \"$GREETING\"; echo oops >&2"],
                &params,
            )
            .await
            .unwrap();
        let mut out = String::new();
        proc.stdout().unwrap().read_to_string(&mut out).await.unwrap();
        let mut err = String::new();
        proc.stderr().unwrap().read_to_string(&mut err).await.unwrap();
        let status = proc.take_status().unwrap().await.unwrap();
        assert_eq!(out, "hello from the pod\n");
        assert_eq!(err, "oops\n");
        assert_eq!(status.status.as_deref(), Some("Success"));

        let mut proc = pods
            .exec("t-1234abcd-head", ["sh", "-c", "exit 3"], &params)
            .await
            .unwrap();
        let status = proc.take_status().unwrap().await.unwrap();
        assert_eq!(status.status.as_deref(), Some("Failure"));
        let cause = status.details.unwrap().causes.unwrap().into_iter().next().unwrap();
        assert_eq!(
            (cause.reason.as_deref(), cause.message.as_deref()),
            (Some("ExitCode"), Some("3"))
        );

        // stdin over channel 0, closed by the client (v5's close frame): `cat` ends, as in a real pod.
        let with_stdin = AttachParams::default().stdin(true).stdout(true).stderr(false);
        let mut proc = pods
            .exec("t-1234abcd-head", ["sh", "-c", "cat; echo end"], &with_stdin)
            .await
            .unwrap();
        let mut w = proc.stdin().unwrap();
        w.write_all(b"from stdin\n").await.unwrap();
        // kube-rs's writer is half of a simplex stream: dropping it is not an end of input, shutting it down is.
        w.shutdown().await.unwrap();
        let mut out = String::new();
        proc.stdout().unwrap().read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "from stdin\nend\n");

        let missing = pods.get("nope").await.unwrap_err();
        assert!(matches!(missing, kube::Error::Api(s) if s.code == 404 && s.reason == "NotFound"));
    });
    let ops: Vec<String> = lab.requests().into_iter().map(|r| r.op).collect();
    assert!(ops.contains(&"exec pods/exec".to_string()), "{ops:?}");
    assert!(
        lab.state
            .exec_inputs
            .lock()
            .unwrap()
            .iter()
            .any(|i| i == b"from stdin\n"),
        "the fake keeps what arrived on stdin"
    );
}

#[test]
fn aws_sdk_parses_the_fake_eks_answers() {
    let lab = Lab::start(Scenario::healthy_pod_identity());
    lab.block_on(async {
        use aws_sdk_eks::config::{BehaviorVersion, Credentials, Region};
        let conf = aws_config::defaults(BehaviorVersion::latest())
            .credentials_provider(Credentials::new("testing", "testing", None, None, "lab"))
            .region(Region::new("us-west-2"))
            .endpoint_url(&lab.aws_url)
            .load()
            .await;
        let eks = aws_sdk_eks::Client::new(&conf);
        let addons = eks.list_addons().cluster_name("lab-cluster").send().await.unwrap();
        assert!(addons.addons().contains(&"eks-pod-identity-agent".to_string()));
        let addon = eks
            .describe_addon()
            .cluster_name("lab-cluster")
            .addon_name("eks-pod-identity-agent")
            .send()
            .await
            .unwrap();
        assert_eq!(addon.addon().unwrap().status().unwrap().as_str(), "ACTIVE");
        let list = eks
            .list_pod_identity_associations()
            .cluster_name("lab-cluster")
            .namespace("default")
            .service_account("skypilot-service-account")
            .send()
            .await
            .unwrap();
        let id = list.associations()[0].association_id().unwrap().to_string();
        let a = eks
            .describe_pod_identity_association()
            .cluster_name("lab-cluster")
            .association_id(id)
            .send()
            .await
            .unwrap();
        assert_eq!(
            a.association().unwrap().role_arn(),
            Some("arn:aws:iam::123456789012:role/SkyPilotS3Role-lab-bucket")
        );
        let missing = eks.describe_cluster().name("nope").send().await.unwrap_err();
        assert!(missing.into_service_error().is_resource_not_found_exception());
    });
}
