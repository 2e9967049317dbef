import os

import refgraph


def test_imports_the_in_tree_module():
    build_dir = os.environ.get("REFGRAPH_BUILD_DIR")
    assert build_dir, "run the suite through `make check`, which sets REFGRAPH_BUILD_DIR"
    assert os.path.dirname(os.path.abspath(refgraph.__file__)) == os.path.abspath(build_dir)


def test_version_and_features():
    assert refgraph.__version__.count(".") == 2
    assert set(refgraph.features) == {"graphviz"}
    expected = os.environ.get("REFGRAPH_EXPECT_GRAPHVIZ")
    if expected is not None:
        assert refgraph.features["graphviz"] == (expected == "yes")


def test_public_functions_have_signatures():
    import inspect
    for name in ["find_backref_chain", "find_ref_chain", "show_backrefs", "show_refs",
                 "show_chain", "is_proper_module"]:
        fn = getattr(refgraph, name)
        assert fn.__doc__
        inspect.signature(fn)  # raises if __text_signature__ is malformed
    sig = inspect.signature(refgraph.show_backrefs)
    assert sig.parameters["max_depth"].default == 3
    assert sig.parameters["too_many"].default == 10
    assert inspect.signature(refgraph.find_backref_chain).parameters["max_depth"].default == 20
