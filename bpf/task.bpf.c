/* task.bpf.c: sched/sched_process_exec tracepoint running the task-side extraction the LSM
 * programs use (task.h): namespace inums, uid vs the executable's inode uid, tty, and the
 * executable path by dentry walk. One record per exec'ing tgid in armor_task_recs. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "armor.h"
#include "task.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct armor_task_rec);
} armor_task_recs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct armor_task_rec);
} armor_task_scratch SEC(".maps");

/* only tasks of this mount namespace are recorded (0 = all); set by the loader */
volatile const __u32 armor_only_mnt_ns = 0;

SEC("tracepoint/sched/sched_process_exec")
int armor_exec(void *ctx)
{
	__u32 zero = 0;
	struct armor_task_rec *rec = bpf_map_lookup_elem(&armor_task_scratch, &zero);
	if (!rec)
		return 0;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	__u32 mnt = BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
	if (armor_only_mnt_ns && mnt != armor_only_mnt_ns)
		return 0;
	struct armor_outer_key k = armor_task_key(t);
	rec->pid_ns = BPF_CORE_READ(t, nsproxy, pid_ns_for_children, ns.inum);
	rec->mnt_ns = mnt;
	rec->key_pid_ns = k.pid_ns;
	rec->key_mnt_ns = k.mnt_ns;
	rec->pid = BPF_CORE_READ(t, pid);
	rec->tgid = BPF_CORE_READ(t, tgid);
	rec->uid = (__u32)bpf_get_current_uid_gid();
	rec->tty = armor_task_tty(t);
	struct file *exe = BPF_CORE_READ(t, mm, exe_file);
	rec->exe_uid = armor_inode_uid(BPF_CORE_READ(exe, f_path.dentry));
	rec->owner = rec->exe_uid == rec->uid;
	rec->path_len = armor_file_path(exe, rec->path);
	bpf_map_update_elem(&armor_task_recs, &rec->tgid, rec, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
