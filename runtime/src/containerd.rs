//! containerd, as `armor-loader run` sees it: which tasks run now, their containers' labels, and
//! task lifecycle events, through containerd's gRPC API (the `containerd-client` bindings) on its
//! socket. Nothing here decides anything; `node` does.

use anyhow::{Context, Result};
use containerd_client::events::{TaskCreate, TaskDelete, TaskExit, TaskStart};
use containerd_client::services::v1::events_client::EventsClient;
use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::{
    containers_client::ContainersClient, GetContainerRequest, ListContainersRequest, ListTasksRequest, SubscribeRequest,
};
use containerd_client::tonic::transport::Channel;
use containerd_client::tonic::{Request, Streaming};
use containerd_client::types::Envelope;
use prost::Message;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The containerd namespace the CRI plugin (so the kubelet) uses.
pub const K8S_NAMESPACE: &str = "k8s.io";

/// CRI labels: the pod's uid, and whether a container is a pod's sandbox or one of its containers.
pub const POD_UID: &str = "io.kubernetes.pod.uid";
pub const KIND: &str = "io.cri-containerd.kind";
pub const KIND_SANDBOX: &str = "sandbox";

/// containerd.v1.types.Status: a task that exists and has not exited.
const STATUS_CREATED: i32 = 1;
const STATUS_RUNNING: i32 = 2;
const STATUS_PAUSED: i32 = 4;

/// A task lifecycle change of one container (its init process; execs inside are not tasks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The task exists and its init process waits to exec the container's command (runc create).
    Created { id: String, pid: u32 },
    /// The command was started.
    Started { id: String, pid: u32 },
    /// The init process exited or the task was deleted: the container's namespaces are going away.
    Stopped { id: String },
}

#[derive(Clone)]
pub struct Containerd {
    channel: Channel,
    namespace: String,
}

impl Containerd {
    pub async fn connect(socket: &Path, namespace: &str) -> Result<Containerd> {
        let channel = containerd_client::connect(socket)
            .await
            .with_context(|| format!("connecting to containerd at {}", socket.display()))?;
        Ok(Containerd { channel, namespace: namespace.to_string() })
    }

    fn request<T>(&self, message: T) -> Result<Request<T>> {
        let mut request = Request::new(message);
        let value = self.namespace.parse().with_context(|| format!("containerd namespace {:?}", self.namespace))?;
        request.metadata_mut().insert("containerd-namespace", value);
        Ok(request)
    }

    /// Lifecycle events of this namespace's tasks, from now on. containerd answers the call only
    /// with the first event, so callers run this concurrently with listing the running tasks.
    pub async fn subscribe(&self) -> Result<Events> {
        let filter = format!("namespace=={},topic~=\"^/tasks/\"", self.namespace);
        let stream = EventsClient::new(self.channel.clone())
            .subscribe(SubscribeRequest { filters: vec![filter] })
            .await
            .context("subscribing to containerd events")?
            .into_inner();
        Ok(Events { stream })
    }

    /// Every task of this namespace that has not exited: (container id, init pid).
    pub async fn running(&self) -> Result<Vec<(String, u32)>> {
        let tasks = TasksClient::new(self.channel.clone())
            .list(self.request(ListTasksRequest { filter: String::new() })?)
            .await
            .context("listing containerd tasks")?
            .into_inner()
            .tasks;
        Ok(tasks
            .into_iter()
            .filter(|t| matches!(t.status, STATUS_CREATED | STATUS_RUNNING | STATUS_PAUSED) && t.pid != 0)
            // containerd 1.6 names the container in `id` and leaves `container_id` empty for init tasks
            .map(|t| (if t.container_id.is_empty() { t.id } else { t.container_id }, t.pid))
            .collect())
    }

    /// A container's labels (the CRI plugin's `io.kubernetes.*` ones and the pod's).
    pub async fn labels(&self, id: &str) -> Result<BTreeMap<String, String>> {
        let container = ContainersClient::new(self.channel.clone())
            .get(self.request(GetContainerRequest { id: id.to_string() })?)
            .await
            .with_context(|| format!("container {id}"))?
            .into_inner()
            .container
            .with_context(|| format!("container {id}: containerd returned no container"))?;
        Ok(container.labels.into_iter().collect())
    }

    /// Every container's labels, by container id: one call instead of two per container when
    /// many are looked up at once (agent start, resync).
    pub async fn all_labels(&self) -> Result<HashMap<String, BTreeMap<String, String>>> {
        let containers = ContainersClient::new(self.channel.clone())
            .list(self.request(ListContainersRequest { filters: Vec::new() })?)
            .await
            .context("listing containerd containers")?
            .into_inner()
            .containers;
        Ok(containers.into_iter().map(|c| (c.id, c.labels.into_iter().collect())).collect())
    }

    /// The labels of a pod's sandbox container, found by the pod's uid: the CRI plugin gives the
    /// sandbox the pod's labels and each container only its own (`io.kubernetes.*`). `None`
    /// when there is no such sandbox (containers not started by the CRI plugin).
    pub async fn sandbox_labels(&self, pod_uid: &str) -> Result<Option<BTreeMap<String, String>>> {
        if pod_uid.contains('"') {
            return Ok(None); // not a uid; it cannot be quoted in a filter either
        }
        let filter = format!("labels.\"{POD_UID}\"==\"{pod_uid}\",labels.\"{KIND}\"==\"{KIND_SANDBOX}\"");
        let containers = ContainersClient::new(self.channel.clone())
            .list(self.request(ListContainersRequest { filters: vec![filter] })?)
            .await
            .with_context(|| format!("listing the sandbox of pod {pod_uid}"))?
            .into_inner()
            .containers;
        Ok(containers.into_iter().next().map(|c| c.labels.into_iter().collect()))
    }
}

pub struct Events {
    stream: Streaming<Envelope>,
}

impl Events {
    /// The next task change; `None` when containerd closed the stream.
    pub async fn next(&mut self) -> Result<Option<Change>> {
        loop {
            let Some(envelope) = self.stream.message().await.context("reading containerd events")? else {
                return Ok(None);
            };
            if let Some(change) = decode(&envelope) {
                return Ok(Some(change));
            }
        }
    }
}

/// A task event's payload; `None` for the topics `run` does not act on (exec, pause, OOM...).
fn decode(envelope: &Envelope) -> Option<Change> {
    let payload = envelope.event.as_ref()?.value.as_slice();
    match envelope.topic.as_str() {
        "/tasks/create" => TaskCreate::decode(payload).ok().map(|e| Change::Created { id: e.container_id, pid: e.pid }),
        "/tasks/start" => TaskStart::decode(payload).ok().map(|e| Change::Started { id: e.container_id, pid: e.pid }),
        // an exec's exit has its own id; the init process's is empty or the container's
        "/tasks/exit" => TaskExit::decode(payload)
            .ok()
            .filter(|e| e.id.is_empty() || e.id == e.container_id)
            .map(|e| Change::Stopped { id: e.container_id }),
        "/tasks/delete" => TaskDelete::decode(payload)
            .ok()
            .filter(|e| e.id.is_empty() || e.id == e.container_id)
            .map(|e| Change::Stopped { id: e.container_id }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(topic: &str, payload: impl Message) -> Envelope {
        Envelope {
            topic: topic.into(),
            event: Some(prost_types::Any { type_url: String::new(), value: payload.encode_to_vec() }),
            ..Default::default()
        }
    }

    #[test]
    fn task_events_decode_to_changes() {
        let create = TaskCreate { container_id: "c1".into(), pid: 42, ..Default::default() };
        assert_eq!(decode(&envelope("/tasks/create", create)), Some(Change::Created { id: "c1".into(), pid: 42 }));
        let start = TaskStart { container_id: "c1".into(), pid: 42 };
        assert_eq!(decode(&envelope("/tasks/start", start)), Some(Change::Started { id: "c1".into(), pid: 42 }));
        let exit = TaskExit { container_id: "c1".into(), id: "c1".into(), pid: 42, ..Default::default() };
        assert_eq!(decode(&envelope("/tasks/exit", exit)), Some(Change::Stopped { id: "c1".into() }));
    }

    #[test]
    fn an_exec_exiting_does_not_stop_the_container() {
        let exit = TaskExit { container_id: "c1".into(), id: "exec-7".into(), pid: 50, ..Default::default() };
        assert_eq!(decode(&envelope("/tasks/exit", exit)), None);
        let oom = TaskStart { container_id: "c1".into(), pid: 1 };
        assert_eq!(decode(&envelope("/tasks/oom", oom)), None);
    }
}
