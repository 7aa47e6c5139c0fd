//! The sched/sched_process_exec tracepoint (bpf/task.bpf.c): the task-side extraction the LSM
//! programs use, observable on kernels that refuse LSM programs.

use crate::objects;
use anyhow::{anyhow, Context, Result};
use aya::maps::{HashMap, MapData};
use aya::programs::TracePoint;
use aya::{Ebpf, EbpfLoader};

const PATH_CAP: usize = 1024 + 256;
const REC_SIZE: usize = 11 * 4 + PATH_CAP;

/// One record (bpf/armor.h `struct armor_task_rec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRec {
    pub pid: u32,
    pub tgid: u32,
    pub pid_ns: u32,
    pub mnt_ns: u32,
    /// The outer-map key the LSM programs would use ({0,0} on the host).
    pub key: (u32, u32),
    pub uid: u32,
    pub exe_uid: u32,
    pub owner: bool,
    pub tty: bool,
    /// Executable path; empty if the walk could not resolve it.
    pub path: Vec<u8>,
}

fn parse(b: &[u8; REC_SIZE]) -> TaskRec {
    let u = |i: usize| u32::from_le_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]);
    let len = (u(10) as usize).min(PATH_CAP);
    TaskRec {
        pid: u(0),
        tgid: u(1),
        pid_ns: u(2),
        mnt_ns: u(3),
        key: (u(4), u(5)),
        uid: u(6),
        exe_uid: u(7),
        owner: u(8) != 0,
        tty: u(9) != 0,
        path: b[44..44 + len].to_vec(),
    }
}

/// The tracepoint, attached, recording execs of tasks in one mount namespace (0 = all).
pub struct ExecTracer {
    obj: Ebpf,
}

impl ExecTracer {
    pub fn attach(only_mnt_ns: u32) -> Result<ExecTracer> {
        let mut obj = EbpfLoader::new()
            .override_global("armor_only_mnt_ns", &only_mnt_ns, true)
            .load(objects::TASK)
            .context("loading the task object")?;
        let prog: &mut TracePoint =
            obj.program_mut("armor_exec").ok_or_else(|| anyhow!("no armor_exec program"))?.try_into()?;
        prog.load().context("loading armor_exec (verifier)")?;
        prog.attach("sched", "sched_process_exec").context("attaching sched/sched_process_exec")?;
        Ok(ExecTracer { obj })
    }

    /// The record of the last exec by thread group `tgid` (host pid), if any.
    pub fn record(&self, tgid: u32) -> Result<Option<TaskRec>> {
        let map: HashMap<&MapData, u32, [u8; REC_SIZE]> =
            HashMap::try_from(self.obj.map("armor_task_recs").ok_or_else(|| anyhow!("no armor_task_recs"))?)?;
        match map.get(&tgid, 0) {
            Ok(b) => Ok(Some(parse(&b))),
            Err(aya::maps::MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
