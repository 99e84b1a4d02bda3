use portico::prelude::*;

#[derive(Deserialize)]
struct Profile {
    name: String,
}

#[derive(Deserialize)]
struct Settings {
    theme: String,
}

#[route(PUT, "/me")]
async fn update(profile: Json<Profile>, settings: Json<Settings>) -> String {
    format!("{} {}", profile.name, settings.theme)
}

fn main() {}
