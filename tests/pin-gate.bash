#!/bin/bash
# pin-gate.bash RELEASED PIN N DIR SUFFIX: the gate that lets N signing
# processes log in at once.  Each reads its PIN from the FIFO DIR/I SUFFIX
# (I from 1 to N); opening a FIFO for writing waits for its reader, so
# once all N are open every process waits for its PIN.  Each path then
# becomes a plain file holding the PIN (for a stack that reads it again),
# the time goes to RELEASED (date +%s%N), and the PINs are written.
# bash for {fd} redirections: sh cannot hold N descriptors open by number.
released=$1 pin=$2 n=$3 dir=$4 suffix=$5
fds=()
for i in $(seq "$n"); do exec {fd}>"$dir/$i$suffix" || exit 1; fds+=("$fd"); done
for i in $(seq "$n"); do
	printf %s "$pin" >"$dir/$i$suffix.next" && mv -f "$dir/$i$suffix.next" "$dir/$i$suffix"
done
date +%s%N >"$released"
for fd in "${fds[@]}"; do printf %s "$pin" >&"$fd"; exec {fd}>&-; done
