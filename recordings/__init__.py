"""Server-side recording of mediation sessions, without transcoding (DESIGN.md).

- `recordings.tap`: takes encoded frames (and RTCP sender reports) out of an aiortc
  receiver before its decoder, and asks the sender for keyframes.
- `recordings.segments`: muxes one track's encoded frames into short WebM segments,
  fsynced, hashed and published atomically, each with a JSON sidecar.
- `recordings.aiortc_internals`: every private aiortc detail the tap relies on, checked.

Wiring one remote track, inside the peer connection's `track` event:

    receiver = receiver_for(pc, track)
    tap = ReceiverTap(receiver)
    writer = SegmentWriter(directory, stem, track_id=track.id, kind=track.kind,
                           request_keyframe=tap.request_keyframe, on_segment=..., on_error=...)
    tap.start(writer)
    ...
    await writer.stop()
"""
