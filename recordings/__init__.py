"""Server-side recording of mediation sessions, without transcoding (DESIGN.md).

The media path, from the recorder's peer connection to files on disk:

- `recordings.tap`: takes encoded frames (and RTCP sender reports) out of an aiortc
  receiver before its decoder, and asks the sender for keyframes.
- `recordings.segments`: muxes one track's encoded frames into short WebM segments,
  fsynced, hashed and published atomically, each with a JSON sidecar.
- `recordings.aiortc_internals`: every private aiortc detail the tap relies on, checked.

Around it: `worker` (one process per recording run), `launcher`, `evidence` (database rows
and the case's hash-chained log) and `composite` (the one-file download).

Wiring one remote track, inside the peer connection's `track` event:

    tap = ReceiverTap(receiver_for(pc, track))
    writer = SegmentWriter(directory, stem, track_id=track.id, kind=track.kind,
                           request_keyframe=tap.request_keyframe, on_segment=..., on_error=...)
    tap.start(writer)
    ...
    await writer.stop()  # or let the receiver's end finish the last segment
"""
