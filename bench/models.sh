# models.sh - sourced by the bench scripts (run-qwq32b-shape.sh, sbs/run.sh),
# from the repository root with BUILD set: the QwQ-32B-shape model files
# and the page-cache step their runs share.

# model_gen TYPE LAYERS FILE: writes FILE with qwq-gen unless it exists
model_gen() {
    if [ -f "$3" ]; then
        echo "model $3 exists, not regenerated" >&2
    else
        echo "generating $3" >&2
        "$BUILD/bin/qwq-gen" --preset qwq-32b --layers "$2" --type "$1" -q -o "$3"
    fi
}

# model_drop FILE: drops the file's clean pages from the page cache, so
# that the next qwq-bench run (with --no-warm) faults them back in through
# the library's MADV_HUGEPAGE mapping, as 2 MiB folios
model_drop() {
    dd if="$1" iflag=nocache count=0 2>/dev/null || echo "could not drop $1 from the page cache" >&2
}
