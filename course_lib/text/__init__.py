"""Text: n-gram baselines, vocabularies and word2vec, word-vector evaluation, a subword tokenizer, a tiny BERT.

Import the module you need: ``from course_lib.text import ngram``.
"""
