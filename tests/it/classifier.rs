//! The error-text corpus (`tests/fixtures/error_texts.toml`): every text the doctor has met, from the real clients
//! in the lab or as users pasted them in public issues, classified into the code that names its cause.

use serde::Deserialize;

#[derive(Deserialize)]
struct Corpus {
    text: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    text: String,
    code: String,
    source: String,
}

#[test]
fn every_text_of_the_corpus_gets_its_code() {
    let corpus: Corpus = toml::from_str(include_str!("../fixtures/error_texts.toml")).expect("the corpus parses");
    assert!(corpus.text.len() >= 66, "the corpus keeps its breadth");
    let mut wrong = Vec::new();
    for e in &corpus.text {
        assert!(!e.source.trim().is_empty(), "{:?} names its source", e.text);
        let got = skys3::classify::classify(&e.text)
            .map(|k| k.code.as_str())
            .unwrap_or("");
        if got != e.code {
            wrong.push(format!(
                "{:?}: expected {:?}, got {got:?} ({})",
                e.text, e.code, e.source
            ));
        }
        // Every recognised code is one `skys3 explain` can explain.
        if !e.code.is_empty() {
            assert!(skys3::catalog::explain(&e.code).is_some(), "{}", e.code);
            assert!(skys3::catalog::explain_text(&e.text).is_some(), "{:?}", e.text);
        }
    }
    assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
}
