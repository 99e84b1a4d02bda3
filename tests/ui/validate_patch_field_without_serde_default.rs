use portico::prelude::*;

#[derive(Deserialize, Validate)]
struct ProfilePatch {
    #[validate(length(max = 20))]
    nickname: Patch<String>,
}

fn main() {}
