"""Services apply the rules: they take a Principal and validated input, check access with the
domain's guard functions, and read and write through storage. HTTP, CLI and (later)
signaling handlers call these; none of them touch SQL themselves.
"""
