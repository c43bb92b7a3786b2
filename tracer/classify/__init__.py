"""Bot and machine-traffic classification (DESIGN.md §6): classify, never drop.

    from tracer.classify import Classifier, Verdict

    classifier = Classifier.for_brand(brand)      # one shared instance per bot policy
    verdict = classifier.click(ip, ua, method, age_s=3.2, message_id=m, link=2)
    verdict.agent, verdict.reasons                # "scanner", ("net:mimecast", "fast_click")

Modules, one job each: `verdicts` (the Verdict, signal ranks and precedence),
`useragents` (email-specific rules + the maintained crawler list, cached per string),
`networks` (vendor CIDR tables), `bursts` (several links of a message at once),
`classifier` (the API the edge calls). Data lives in `tracer/data/`; see
docs/classification.md.
"""

from tracer.classify.classifier import Classifier
from tracer.classify.verdicts import HUMAN, Verdict

__all__ = ["HUMAN", "Classifier", "Verdict"]
