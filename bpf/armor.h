/* armor.h: map layout shared by every armorc BPF program. Mirrors compiler/src/image.rs
 * (Key, Value, kinds, mask bits, posture) and compiler/src/model.rs (ops, steps, result word). */
#ifndef __ARMOR_H__
#define __ARMOR_H__

/* Key kinds */
#define KIND_PATH 1
#define KIND_EXECNAME 2
#define KIND_NET_TYPE 3
#define KIND_NET_PROTO 4
#define KIND_CAPABILITY 5
#define KIND_POSTURE 6
#define KIND_DNS 7
#define KIND_ARG 8

/* Posture categories (len of a KIND_POSTURE key) and values (Value.process) */
#define POSTURE_PROCESS 1
#define POSTURE_FILE 2
#define POSTURE_NETWORK 3
#define POSTURE_CAPABILITY 4
#define POSTURE_DNS 5
#define POSTURE_BLOCK 1
#define POSTURE_AUDIT 2

/* Mask bits (KubeArmor's RULE_*) */
#define M_EXEC 0x0001
#define M_WRITE 0x0002
#define M_READ 0x0004
#define M_OWNER 0x0008
#define M_DIR 0x0010
#define M_RECURSIVE 0x0020
#define M_HINT 0x0040
#define M_DENY 0x0080
#define M_ARGSET 0x0100
#define M_PTS 0x0200

#define MAX_PATH 1024   /* longest path/source the kernel hashes */
#define MAX_DIRS 64     /* directory levels the walk considers */
#define MAX_ARGS 20     /* argv[1..] entries checked for allowedArgs */
#define MAX_ARG_LEN 104
#define MAX_TARGETS 4096 /* containers + host per node */
#define INNER_CAPACITY 4096

/* Query ops (compiler/src/model.rs Op) */
#define OP_EXEC 1
#define OP_OPEN 2
#define OP_WRITE 3
#define OP_UNLINK 4
#define OP_MKDIR 5
#define OP_RMDIR 6
#define OP_RENAME 7
#define OP_CHMOD 8
#define OP_TRUNCATE 9
#define OP_LINK 10
#define OP_SYMLINK 11
#define OP_MKNOD 12
#define OP_SOCKET 13
#define OP_CAPABLE 14
#define OP_PERMISSION 15 /* file_permission with MAY_WRITE alone (LSM only) */

/* Lookup step that matched (0 = none) */
#define STEP_NONE 0
#define STEP_EXACT_SRC 1
#define STEP_DIR_SRC 2
#define STEP_EXACT 3
#define STEP_EXECNAME 4
#define STEP_DIR 5
#define STEP_TYPE_SRC 6
#define STEP_PROTO_SRC 7
#define STEP_TYPE 8
#define STEP_PROTO 9
#define STEP_CAP_SRC 10
#define STEP_CAP 11

/* Who decided */
#define BY_DEFAULT 0
#define BY_RULE 1
#define BY_POSTURE 2

/* Result word: bit0 deny, bit1 audit, bits2-3 by, bits4-7 step, bits8-31 rule index + 1 (0 = none) */
#define RES_DENY 1u
#define RES_AUDIT 2u

struct armor_key {
	__u8 kind;
	__u8 pad[3];
	__u32 len;
	__u64 a;
	__u64 b;
	__u64 source;
};

struct armor_value {
	__u16 process;
	__u16 file;
	__u32 rule;
};

/* outer map key: {pid ns inum, mnt ns inum}; the host is {0, 0} */
struct armor_outer_key {
	__u32 pid_ns;
	__u32 mnt_ns;
};

/* One decision request, built by the harness (from a serialized query) or by an LSM program (from
 * kernel objects). Hashes are computed from the bytes in C by armor_hash_*(). */
struct armor_req {
	__u8 op;
	__u8 owner;
	__u8 tty;
	__u8 argc;
	__u8 args_known; /* 0: argv not available, allowedArgs never match */
	__u8 pad[3];
	__u32 path_len;
	__u32 sock_type;
	__u32 sock_proto;
	__u32 cap;
	__u32 ndirs;
	__u32 base_len;
	__u32 src_len; /* bytes of tmp[] holding the source exe (LSM programs; for events) */
	__u32 pad2;
	__u64 src;     /* source_hash of the source exe; 0 = none */
	__u64 path_a;
	__u64 path_b;
	__u64 base_a;
	__u64 base_b;
	/* prefix i (i < ndirs) = path[0..dir_len[i]) */
	__u32 dir_len[MAX_DIRS];
	__u64 dir_a[MAX_DIRS];
	__u64 dir_b[MAX_DIRS];
	__u32 arg_len[MAX_ARGS];
	__u64 arg_a[MAX_ARGS];
	char path[MAX_PATH + 256]; /* slack: the dentry walk writes up to 255 bytes past the end */
	char tmp[MAX_PATH + 256];
	/* unused; keeps the key/value types complete in BTF for the map definitions */
	struct armor_key btf_key;
	struct armor_value btf_value;
};

/* Serialized query read by the harness (after the 14-byte Ethernet header the kernel strips):
 * this header, then path bytes, source bytes, then each argument's bytes. Little-endian. */
struct armor_query_hdr {
	__u8 op;
	__u8 owner;
	__u8 tty;
	__u8 argc;
	__u16 path_len;
	__u16 src_len; /* 0 = no source */
	__u32 sock_type;
	__u32 sock_proto;
	__u32 cap;
	__u32 pid_ns;
	__u32 mnt_ns;
	__u8 arg_len[MAX_ARGS];
};

/* Record written by the sched_process_exec tracepoint (task.bpf.c) */
struct armor_task_rec {
	__u32 pid;
	__u32 tgid;
	__u32 pid_ns;     /* pid namespace for children */
	__u32 mnt_ns;
	__u32 key_pid_ns; /* the outer-map key the LSM programs use ({0,0} on the host) */
	__u32 key_mnt_ns;
	__u32 uid;
	__u32 exe_uid;    /* inode uid of the executable */
	__u32 owner;      /* exe_uid == uid */
	__u32 tty;
	__u32 path_len;   /* 0 = unresolved */
	char path[MAX_PATH + 256];
};

#endif
