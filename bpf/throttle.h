/* throttle.h: per-target event throttling (KubeArmor's alert throttling), one mechanism for the
 * LSM programs' alerts (events.h) and the visibility monitor's logs (monitor.bpf.c): at most
 * max_per_sec events a second per target; past that the target is muted for throttle_sec seconds,
 * and the caller reports the start of the mute once. Needs armor.h included first. */
#ifndef __ARMOR_THROTTLE_H__
#define __ARMOR_THROTTLE_H__

struct armor_config {
	__u32 max_per_sec; /* 0 = no throttling */
	__u32 throttle_sec;
};

struct armor_throttle {
	__u64 window_ns;   /* start of the current one-second window */
	__u64 muted_until; /* boot ns */
	__u32 count;
	__u32 pad;
};

#define THROTTLE_PASS 0
#define THROTTLE_MUTED 1
#define THROTTLE_START 2 /* muted from now on: the caller reports it */

/* `states` is an LRU hash of struct armor_throttle by struct armor_outer_key. */
static __always_inline int armor_throttle_check(struct armor_config *cfg, void *states,
						struct armor_outer_key *k, __u64 now)
{
	if (!cfg || !cfg->max_per_sec)
		return THROTTLE_PASS;
	struct armor_throttle *th = bpf_map_lookup_elem(states, k);
	if (!th) {
		struct armor_throttle fresh = {.window_ns = now, .count = 1};
		bpf_map_update_elem(states, k, &fresh, BPF_ANY);
		return THROTTLE_PASS;
	}
	if (now < th->muted_until)
		return THROTTLE_MUTED;
	if (now - th->window_ns >= 1000000000ULL) {
		th->window_ns = now;
		th->count = 0;
	}
	th->count++;
	if (th->count <= cfg->max_per_sec)
		return THROTTLE_PASS;
	th->muted_until = now + (__u64)cfg->throttle_sec * 1000000000ULL;
	return THROTTLE_START;
}

#endif
