/* lsm.bpf.c: armorc's BPF-LSM programs. Each hook builds an armor_req from kernel objects with
 * the task-side code of task.h and asks armor_decide() (decide.h, shared with the test-run
 * harness) against the rule map of the task's target ({pid ns, mnt ns}; host {0,0}). Tasks
 * without a target map are never touched. A denial returns -EACCES; denials and audited
 * decisions are reported as events (events.h). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "armor.h"
#include "maps.h"
#include "decide.h"
#include "task.h"
#include "events.h"

#define EACCES 13
#define MAY_WRITE 0x2
#define MAY_APPEND 0x8

/* Rule map of the current task's target (its key in *k), or NULL. */
static __always_inline void *armor_target(struct task_struct *t, struct armor_outer_key *k)
{
	*k = armor_task_key(t);
	return bpf_map_lookup_elem(&armor_targets, k);
}

/* Decide, report what denies or is audited, and return the hook's verdict. Since 6.12 the
 * verifier requires an LSM program's return value to lie in [-4095, 0]; clang compiles
 * `deny ? -EACCES : 0` to `-(word & 1) & -13`, which it cannot bound, so the branch is kept. */
static __always_inline int armor_verdict(void *inner, struct armor_req *r, struct armor_outer_key *k)
{
	__u32 word = armor_decide(inner, r);
	if (word & (RES_DENY | RES_AUDIT))
		armor_report(r, word, k);
	__u32 deny = word & RES_DENY;
	barrier_var(deny); /* opaque to clang: a real branch, not -(deny) & -EACCES */
	if (deny)
		return -EACCES;
	return 0;
}

/* Fill the request's common part: op, tty, source (exe of `src_task`) hashed. */
static __always_inline struct armor_req *armor_begin(__u8 op, struct task_struct *src_task)
{
	struct armor_req *r = armor_req_get();
	if (!r)
		return 0;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	r->op = op;
	r->tty = armor_task_tty(t);
	r->owner = 0;
	r->argc = 0;
	r->args_known = 0; /* argv of the new image is not readable here: allowedArgs never match */
	r->path_len = 0;
	struct file *exe = BPF_CORE_READ(src_task, mm, exe_file);
	__u32 len = exe ? armor_file_path(exe, r->tmp) : 0;
	r->src_len = len;
	r->src = armor_hash_source(r, len);
	return r;
}

/* Path request for (dentry, vfsmount); owner = the inode of `owner_of` belongs to the caller. */
static __always_inline int armor_path_check(__u8 op, struct dentry *d, struct vfsmount *mnt,
					    struct dentry *owner_of)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct armor_outer_key k;
	void *inner = armor_target(t, &k);
	if (!inner)
		return 0;
	struct armor_req *r = armor_begin(op, t);
	if (!r)
		return 0;
	r->owner = armor_inode_uid(owner_of) == (__u32)bpf_get_current_uid_gid();
	r->path_len = armor_path(d, mnt, r->path);
	if (!r->path_len)
		return 0; /* unresolvable path: nothing to match */
	armor_hash_path(r);
	return armor_verdict(inner, r, &k);
}

SEC("lsm/bprm_check_security")
int BPF_PROG(armor_bprm, struct linux_binprm *bprm, int ret)
{
	if (ret)
		return ret;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct armor_outer_key k;
	void *inner = armor_target(t, &k);
	if (!inner)
		return 0;
	/* fromSource of a process rule is the parent's executable */
	struct armor_req *r = armor_begin(OP_EXEC, BPF_CORE_READ(t, real_parent));
	if (!r)
		return 0;
	struct file *f = BPF_CORE_READ(bprm, file);
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	r->owner = armor_inode_uid(d) == (__u32)bpf_get_current_uid_gid();
	r->path_len = armor_file_path(f, r->path);
	if (!r->path_len)
		return 0;
	armor_hash_path(r);
	return armor_verdict(inner, r, &k);
}

static __always_inline int armor_file_check(__u8 op, struct file *f)
{
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	return armor_path_check(op, d, BPF_CORE_READ(f, f_path.mnt), d);
}

SEC("lsm/file_open")
int BPF_PROG(armor_file_open, struct file *file, int ret)
{
	if (ret)
		return ret;
	return armor_file_check(OP_OPEN, file);
}

SEC("lsm/file_permission")
int BPF_PROG(armor_file_permission, struct file *file, int mask, int ret)
{
	if (ret)
		return ret;
	if (!(mask & (MAY_WRITE | MAY_APPEND)))
		return 0;
	return armor_file_check(OP_PERMISSION, file);
}

#define PATH_HOOK(hook, op)                                                                      \
	SEC("lsm/" #hook)                                                                        \
	int BPF_PROG(armor_##hook, const struct path *dir, struct dentry *dentry)                \
	{                                                                                        \
		return armor_path_check(op, dentry, BPF_CORE_READ(dir, mnt), dentry);            \
	}

PATH_HOOK(path_unlink, OP_UNLINK)
PATH_HOOK(path_rmdir, OP_RMDIR)
PATH_HOOK(path_symlink, OP_SYMLINK)

/* mkdir and mknod: the new entry has no inode yet; the owner is the parent directory's */
SEC("lsm/path_mkdir")
int BPF_PROG(armor_path_mkdir, const struct path *dir, struct dentry *dentry)
{
	return armor_path_check(OP_MKDIR, dentry, BPF_CORE_READ(dir, mnt), BPF_CORE_READ(dir, dentry));
}

SEC("lsm/path_mknod")
int BPF_PROG(armor_path_mknod, const struct path *dir, struct dentry *dentry)
{
	return armor_path_check(OP_MKNOD, dentry, BPF_CORE_READ(dir, mnt), BPF_CORE_READ(dir, dentry));
}

SEC("lsm/path_chmod")
int BPF_PROG(armor_path_chmod, const struct path *path)
{
	struct dentry *d = BPF_CORE_READ(path, dentry);
	return armor_path_check(OP_CHMOD, d, BPF_CORE_READ(path, mnt), d);
}

SEC("lsm/path_truncate")
int BPF_PROG(armor_path_truncate, const struct path *path)
{
	struct dentry *d = BPF_CORE_READ(path, dentry);
	return armor_path_check(OP_TRUNCATE, d, BPF_CORE_READ(path, mnt), d);
}

SEC("lsm/path_link")
int BPF_PROG(armor_path_link, struct dentry *old_dentry, const struct path *new_dir,
	     struct dentry *new_dentry)
{
	struct vfsmount *mnt = BPF_CORE_READ(new_dir, mnt);
	if (armor_path_check(OP_LINK, old_dentry, mnt, old_dentry))
		return -EACCES;
	return armor_path_check(OP_LINK, new_dentry, mnt, BPF_CORE_READ(new_dir, dentry));
}

SEC("lsm/path_rename")
int BPF_PROG(armor_path_rename, const struct path *old_dir, struct dentry *old_dentry,
	     const struct path *new_dir, struct dentry *new_dentry)
{
	if (armor_path_check(OP_RENAME, old_dentry, BPF_CORE_READ(old_dir, mnt), old_dentry))
		return -EACCES;
	return armor_path_check(OP_RENAME, new_dentry, BPF_CORE_READ(new_dir, mnt),
				BPF_CORE_READ(new_dir, dentry));
}

static __always_inline int armor_net_check(__u32 type, __u32 proto)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct armor_outer_key k;
	void *inner = armor_target(t, &k);
	if (!inner)
		return 0;
	struct armor_req *r = armor_begin(OP_SOCKET, t);
	if (!r)
		return 0;
	r->sock_type = type;
	r->sock_proto = proto;
	return armor_verdict(inner, r, &k);
}

SEC("lsm/socket_create")
int BPF_PROG(armor_socket_create, int family, int type, int protocol, int kern)
{
	if (kern)
		return 0;
	return armor_net_check(type & 0xf, protocol); /* type without SOCK_NONBLOCK/CLOEXEC */
}

SEC("lsm/socket_connect")
int BPF_PROG(armor_socket_connect, struct socket *sock)
{
	return armor_net_check(BPF_CORE_READ(sock, type), BPF_CORE_READ(sock, sk, sk_protocol));
}

SEC("lsm/socket_accept")
int BPF_PROG(armor_socket_accept, struct socket *sock)
{
	return armor_net_check(BPF_CORE_READ(sock, type), BPF_CORE_READ(sock, sk, sk_protocol));
}

SEC("lsm/capable")
int BPF_PROG(armor_capable, const struct cred *cred, struct user_namespace *ns, int cap,
	     unsigned int opts, int ret)
{
	if (ret)
		return ret;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct armor_outer_key k;
	void *inner = armor_target(t, &k);
	if (!inner)
		return 0;
	struct armor_req *r = armor_begin(OP_CAPABLE, t);
	if (!r)
		return 0;
	r->cap = cap;
	return armor_verdict(inner, r, &k);
}

char LICENSE[] SEC("license") = "GPL";
