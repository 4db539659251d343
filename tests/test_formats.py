

@pytest.mark.parametrize("fmt", ["fbx", "usdz"])
def test_damaged_fbx_and_usdz_fail_with_a_clear_message(tmp_path, written, fmt):
    """Seeded corruptions of the studio's own files (cuts, flipped bytes, bytes past the header): each one
    either still loads or fails with an InputError that names no server path; nothing else escapes."""
    data = bytearray(Path(written["textured"][fmt]).read_bytes())
    random = np.random.default_rng(13)
    for trial in range(24):
        damaged = bytearray(data)
        if trial % 3 == 0:
            damaged = damaged[:int(random.integers(30, len(data) - 1))]
        else:
            for position in random.integers(0 if trial % 3 == 1 else 27, len(data), size=1 + trial // 3):
                damaged[position] = int(random.integers(0, 256))
        path = tmp_path / f"damaged{trial}.{fmt}"
        path.write_bytes(bytes(damaged))
        try:
            load_scene(path)
        except InputError as error:
            assert str(tmp_path) not in str(error) and "Traceback" not in str(error)
