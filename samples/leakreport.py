"""What every sample does once its leak has happened: print the chain from a
module to the leaked object, then write that chain and the wider picture
(show_backrefs) as text, SVG and PNG.  Without Graphviz the images fall back
to text, with a RuntimeWarning printed as "warning: ..."."""
import os
import warnings

import refgraph


def write_all(graph, outdir, stem):
    """The graph (already in <stem>.txt) as .dot, .svg and .png; returns the names written."""
    names = [stem + ".txt"]
    for ext in ("dot", "svg", "png"):
        name = "%s.%s" % (stem, ext)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            graph.save(os.path.join(outdir, name))
        for w in caught:
            print("warning:", w.message)
        names.append(name if not caught else stem + ".txt")
    return names


def report(target, outdir, question, max_depth=6):
    """Print who keeps target alive and write chain.* and backrefs.* to outdir."""
    os.makedirs(outdir, exist_ok=True)
    chain = refgraph.find_backref_chain(target, refgraph.is_proper_module, max_depth=max_depth + 4)
    print(question + "\n")
    graph = refgraph.show_chain(chain, filename=os.path.join(outdir, "chain.txt"))
    del chain   # the chain list refers to every object on it
    print(graph.to_text())
    written = write_all(graph, outdir, "chain")
    wide = refgraph.show_backrefs(target, max_depth=max_depth, filename=os.path.join(outdir, "backrefs.txt"))
    written += write_all(wide, outdir, "backrefs")
    print("Written to %s: %s" % (outdir, ", ".join(sorted(set(written)))))


def report_survivor(typename, wanted, outdir, census, question):
    """After the workload: print how many typename objects survive (census %
    their number), then report on the one for which wanted(obj) is true."""
    alive = refgraph.by_type(typename)
    print(census % len(alive) + "\n")
    target = next(obj for obj in alive if wanted(obj))
    del alive   # the list holds every survivor: one more referrer otherwise
    report(target, outdir, question)
