package v2

import (
	"errors"
	"fmt"
)

// ConvertCPUSharesToWeight maps a cgroup v1 cpu.shares value (2..262144,
// default 1024) onto the cgroup v2 cpu.weight range (1..10000) with the
// linear formula runc 1.1 uses: 1 + (shares-2)*9999/262142. Zero means
// "unset" and stays zero.
func ConvertCPUSharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	if shares < 2 {
		shares = 2
	}
	if shares > 262144 {
		shares = 262144
	}
	return 1 + ((shares-2)*9999)/262142
}

// ConvertBlkIOWeightToIOWeight maps a cgroup v1 blkio.weight (10..1000)
// onto io.weight (1..10000) as runc does: 1 + (weight-10)*9999/990. Zero
// means "unset" and stays zero.
func ConvertBlkIOWeightToIOWeight(weight uint16) uint64 {
	if weight == 0 {
		return 0
	}
	w := uint64(weight)
	if w < 10 {
		w = 10
	}
	return 1 + (w-10)*9999/990
}

// ConvertMemorySwapToV2 turns the v1 "memory+swap" limit into the v2
// memory.swap.max value (swap alone), given the memory limit, as runc does:
// memory -1 with swap unset means unlimited swap too (-1); swap -1 stays -1
// and 0 stays 0 (unset); otherwise swap must be at least the memory limit,
// and the result is swap - memory.
func ConvertMemorySwapToV2(swap, memory int64) (int64, error) {
	if memory == -1 && swap == 0 {
		return -1, nil
	}
	if swap == -1 || swap == 0 {
		return swap, nil
	}
	if swap < 0 {
		return 0, fmt.Errorf("invalid memory+swap limit %d", swap)
	}
	if memory == 0 || memory == -1 {
		return 0, errors.New("unable to set swap limit without memory limit")
	}
	if memory < 0 {
		return 0, fmt.Errorf("invalid memory limit %d", memory)
	}
	if swap < memory {
		return 0, fmt.Errorf("memory+swap limit %d should be >= memory limit %d", swap, memory)
	}
	return swap - memory, nil
}
